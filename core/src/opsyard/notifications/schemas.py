"""Request and response bodies of the channels, notifications and pages API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from opsyard.api.schemas import Strict
from opsyard.notifications.service import PageAction, Severity

NAME = Field(min_length=1, max_length=100, examples=["on-call"])


class PagerDutyChannelIn(Strict):
    kind: Literal["pagerduty"]
    name: str = NAME
    routing_key: str = Field(
        description="Integration key of an Events API v2 integration (32 characters). "
        "Stored, never shown again."
    )


class SlackChannelIn(Strict):
    kind: Literal["slack"]
    name: str = NAME
    webhook_url: str = Field(
        description="The incoming-webhook URL Slack gave you. It is a credential: stored, "
        "never shown again."
    )


class WebhookChannelIn(Strict):
    kind: Literal["webhook"]
    name: str = NAME
    url: str = Field(description="Receives a JSON POST signed per Standard Webhooks.")


class EmailChannelIn(Strict):
    kind: Literal["email"]
    name: str = NAME
    to: list[str] = Field(
        min_length=1, description="Recipients of notifications. Pages go to the on-call person."
    )


ChannelIn = Annotated[
    PagerDutyChannelIn | SlackChannelIn | WebhookChannelIn | EmailChannelIn,
    Field(discriminator="kind"),
]


class ChannelPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None


class ChannelOut(BaseModel):
    id: int
    kind: Literal["pagerduty", "slack", "webhook", "email"]
    name: str
    enabled: bool
    url: str | None = Field(default=None, description="Webhook channels: where they POST.")
    to: list[str] | None = Field(default=None, description="Email channels: the recipients.")
    created_at: datetime


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        default=None,
        description="Webhook channels: the whsec_ signing secret. Shown once: store it now.",
    )


class NotificationOut(BaseModel):
    id: int
    message_id: str
    channel_id: int | None
    channel_kind: str
    channel_name: str
    purpose: Literal["notify", "page", "test"]
    action: str | None
    severity: str
    summary: str
    dedup_key: str | None
    on_call: str | None = Field(description="Who was on call when the page was raised.")
    recipients: list[str]
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    provider_status: int | None = Field(description="HTTP status, or SMTP reply code.")
    provider_response: str | None
    created_at: datetime


class PageIn(Strict):
    summary: str = Field(default="", max_length=1024, description="Required to trigger.")
    severity: Severity = "critical"
    dedup_key: str = Field(min_length=1, max_length=255)
    action: PageAction = "trigger"
    body: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    rotation: str | None = Field(default=None, description="Default: the primary rotation.")


class PageOut(BaseModel):
    id: int
    dedup_key: str
    status: Literal["triggered", "acknowledged", "resolved"]
    summary: str
    severity: str
    on_call: str | None
    triggered_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class PageResultOut(BaseModel):
    page: PageOut | None
    deduplicated: bool = Field(description="True when the page was already in that state.")
    notifications: list[NotificationOut]
