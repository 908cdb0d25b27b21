"""Settings for one opsyard instance, read from the environment (prefix ``OPSYARD_``)."""

from __future__ import annotations

from datetime import timedelta
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
    embedded_scheduler: bool = Field(
        default=True,
        description="Run scheduled jobs inside 'opsyard serve' when no broker is configured.",
    )
    embedded_job_threads: int = Field(
        default=4, ge=1, description="Threads running jobs inside 'opsyard serve' (embedded)."
    )
    locations: str = Field(
        default="",
        description="Comma-separated locations per-location jobs run in, each on queue "
        "loc.<name>. Empty: only OPSYARD_LOCATION.",
    )
    queue_prefix: str = Field(
        default="",
        description="Prefix of every Celery queue name, so several portals can share a broker.",
    )
    broker_visibility_timeout_seconds: int = Field(
        default=900,
        ge=1,
        description="Redis only: a job message not acknowledged this long after delivery "
        "(its worker died) is delivered again. Keep it above the longest job time limit.",
    )
    scheduler_lease_seconds: int = Field(
        default=30,
        ge=1,
        description="A scheduler that stops renewing its lease this long is replaced by a "
        "standby one.",
    )
    job_run_retention_days: int = Field(
        default=14, ge=1, description="Finished job runs older than this are deleted."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one outbound webhook attempt may take."
    )
    webhook_concurrency: int = Field(
        default=8, ge=1, le=64, description="Outbound webhooks one worker sends at once."
    )
    webhook_secret_overlap_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        description="After a secret rotation, how long the old secret still signs as well.",
    )
    inbound_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest inbound webhook body accepted."
    )
    # Notification providers. Base URLs are settings so tests (and air-gapped sites with a
    # relay) can point channels at another host.
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com",
        description="PagerDuty Events API v2 base; events are POSTed to {base}/v2/enqueue.",
    )
    slack_webhook_url: str = Field(
        default="https://hooks.slack.com",
        description="Slack incoming-webhook URLs must start with this.",
    )
    smtp_host: str = Field(default="", description="SMTP server for email channels; empty: off.")
    smtp_port: int = Field(default=587)
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (port 465) or none."
    )
    smtp_username: str = Field(default="", description="Empty: do not log in.")
    smtp_password: str = Field(default="", repr=False)
    smtp_from: str = Field(default="opsyard@localhost", description="From address of emails.")
    smtp_timeout_seconds: float = Field(default=10.0)

    @property
    def webhook_secret_overlap(self) -> timedelta:
        """`webhook_secret_overlap_seconds` as the duration the rotation code works with."""
        return timedelta(seconds=self.webhook_secret_overlap_seconds)

    def effective_secret_key(self) -> str:
        """The key to sign with: the configured one, or the demo key in demo mode."""
        if self.secret_key:
            return self.secret_key
        return DEMO_SECRET_KEY if self.demo else ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
