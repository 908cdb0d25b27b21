"""Integrations other tools call, and the deliveries they made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow


class InboundStatus:
    PENDING = "pending"
    PROCESSED = "processed"


class InboundIntegration(Base):
    __tablename__ = "inbound_integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # In the URL senders call; random and long so nobody finds an endpoint by guessing.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kept as is because verifying needs the secret itself; the API never shows it again.
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ReceivedWebhook(Base):
    """One verified delivery, stored once however often the sender repeats it."""

    __tablename__ = "inbound_deliveries"
    # The replay guard: a second request with the same delivery id cannot add a row.
    __table_args__ = (UniqueConstraint("integration_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique constraint below starts with it.
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("inbound_integrations.id", ondelete="CASCADE")
    )
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=InboundStatus.PENDING)
    # Set while waiting for the process job, which takes due rows through this index.
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, index=True
    )
    claimed_by: Mapped[str | None] = mapped_column(String(32), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The plugins that acted on it (returned True from handle_inbound_webhook).
    handled_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
