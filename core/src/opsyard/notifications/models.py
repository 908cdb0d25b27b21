"""Channels, notifications (one row per channel and message) and pages (open incidents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow

# Notification statuses. A row is due while `next_attempt_at` is set and not in the future.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"

# Page statuses, following PagerDuty's incident life cycle.
TRIGGERED = "triggered"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
OPEN_PAGE_STATUSES = (TRIGGERED, ACKNOWLEDGED)


class Channel(Base):
    """Where a team's notifications go: a PagerDuty service, a Slack channel, a webhook or
    email recipients."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # What may be shown back: the webhook URL, email recipients.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Never returned by the API after creation: routing key, Slack webhook URL, whsec_ secret.
    # Kept in clear because every send needs it, like the token a provider issued.
    secret: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class Page(Base):
    """An incident raised with page_oncall, keyed by its dedup key within the team."""

    __tablename__ = "notification_pages"
    __table_args__ = (UniqueConstraint("team_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(1024))
    severity: Mapped[str] = mapped_column(String(10))
    oncall_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Notification(Base):
    """One message to one channel, written in the caller's transaction and delivered by the
    sender job, with its delivery history."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The sender keeps a page's trigger, acknowledge and resolve in order per channel.
        Index("ix_notifications_channel_id_dedup_key", "channel_id", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable across retries: the Standard Webhooks `webhook-id` and the email Message-ID.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="SET NULL"), default=None
    )
    # Kept beside the id so the log still says where it went after the channel is gone.
    channel_kind: Mapped[str] = mapped_column(String(20))
    channel_name: Mapped[str] = mapped_column(String(100))
    page_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_pages.id", ondelete="SET NULL"), default=None, index=True
    )
    purpose: Mapped[str] = mapped_column(String(10))
    action: Mapped[str | None] = mapped_column(String(20), default=None)
    severity: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(String(1024))
    body: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(255), default=None)
    source: Mapped[str] = mapped_column(String(255))
    # Who was on call when the page was raised, not when it is finally delivered.
    oncall_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    oncall_name: Mapped[str | None] = mapped_column(String(200), default=None)
    oncall_email: Mapped[str | None] = mapped_column(String(320), default=None)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)

    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set while the row is waiting (or leased to a sender); NULL once sent or given up, so
    # the index holds only the rows a sender may pick.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    provider_status: Mapped[int | None] = mapped_column(Integer, default=None)
    provider_response: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
