"""Settings for one opsyard instance, read from the environment (prefix ``OPSYARD_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The demo command runs with this key so a newcomer needs no configuration; `serve` refuses it.
DEMO_SECRET_KEY = "opsyard-demo-insecure-secret-key"  # noqa: S105  (refused outside demo mode)


class Settings(BaseSettings):
    """Every setting opsyard reads. See docs/user-guide.md for what each one does."""

    model_config = SettingsConfigDict(env_prefix="OPSYARD_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///opsyard.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db.",
    )
    broker_url: str = Field(
        default="",
        description="Celery broker (redis:// or amqp://). Empty runs jobs in-process.",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies and CSRF tokens. Required outside demo mode.",
    )
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL of the portal.")
    location: str = Field(default="default", description="Name of this process's location.")
    demo: bool = Field(default=False, description="Demo mode: allows the built-in secret key.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: JSON when stderr is not a terminal."
    )
    log_level: str = Field(default="INFO")
    session_max_age_seconds: int = Field(default=14 * 24 * 3600)
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure; turn on behind HTTPS."
    )
    login_max_failures: int = Field(
        default=5, description="Failed logins for one account before it is locked for a while."
    )
    login_lockout_seconds: int = Field(default=15 * 60)
    token_default_expiry_days: int = Field(default=90)
    allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks and channels call loopback and private addresses.",
    )
    load_plugins: bool = Field(
        default=True, description="Load plugins from the opsyard.plugins entry points."
    )

    def effective_secret_key(self) -> str:
        """The key to sign with: the configured one, or the demo key in demo mode."""
        if self.secret_key:
            return self.secret_key
        return DEMO_SECRET_KEY if self.demo else ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
