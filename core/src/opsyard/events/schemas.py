"""Response bodies of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EventOut(BaseModel):
    id: str = Field(description="The event's id; also the webhook-id of its webhook messages.")
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    actor: str | None = Field(description="Email of the user whose action caused the event.")
    dispatched_at: datetime | None = Field(
        description="When handlers and webhook subscriptions were given the event; null while "
        "it waits in the outbox."
    )


class EventPage(BaseModel):
    items: list[EventOut]
    next_before: str | None = Field(
        description="Pass as `before` to get the next (older) page; null on the last page."
    )
