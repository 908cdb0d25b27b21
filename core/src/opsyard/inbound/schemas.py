"""Request and response bodies of the inbound webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Provider = Literal["github", "alertmanager", "standard"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationCreate(Strict):
    provider: Provider
    name: str = Field(default="", max_length=200, examples=["payments-api repository"])


class IntegrationUpdate(Strict):
    name: str | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(default=None, description="false makes the URL answer 404.")


class IntegrationOut(BaseModel):
    id: str
    provider: str
    name: str
    enabled: bool
    url: str = Field(description="Where the sender posts its webhooks.")
    created_at: datetime
    last_received_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then requests signed with the old secret are accepted too."
    )


class IntegrationCreated(IntegrationOut):
    secret: str = Field(description="The secret to configure in the sender. Shown once.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new secret. Shown once: store it now.")
    previous_secret_expires_at: datetime | None


class ReceivedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    delivery_id: str = Field(description="The sender's delivery id (a body hash for Alertmanager).")
    event: str
    status: str = Field(description="pending, or processed once handed to the plugins.")
    received_at: datetime
    processed_at: datetime | None
    handled_by: list[str] = Field(description="Plugins that acted on it.")
    duplicates: int = Field(description="Repeats of this delivery that were acknowledged only.")


class ReceivedDetail(ReceivedOut):
    payload: dict[str, Any]


class ReceivedPage(BaseModel):
    items: list[ReceivedOut]
    next_before: int | None


class Accepted(BaseModel):
    accepted: bool = True
    duplicate: bool = Field(description="True when this delivery had been received before.")
