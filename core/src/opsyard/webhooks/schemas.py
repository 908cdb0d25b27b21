"""Request and response bodies of the webhook subscriptions API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # Unknown fields are refused so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(Strict):
    url: str = Field(max_length=2000, examples=["https://hooks.example.com/opsyard"])
    event_types: list[str] = Field(
        min_length=1, description='Event type names, or ["*"] for every event of the team.'
    )
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class WebhookUpdate(Strict):
    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled one.")


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then messages are signed with the old secret as well as the new."
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown once: store it now.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret. Shown once: store it now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Messages carry a signature with the old secret too until then."
    )


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    at: datetime
    status_code: int | None = Field(description="The receiver's answer; null when none came.")
    duration_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="The event's id, sent as the webhook-id header.")
    event_type: str
    status: str = Field(description="pending, succeeded, failed (gave up, or 410) or cancelled.")
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    redelivery_of: int | None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_before: int | None = Field(
        description="Pass as `before` to get the next (older) page; null on the last page."
    )
