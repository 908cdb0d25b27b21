"""The outbox: one row per emitted event, kept afterwards as the team's event history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow


class StoredEvent(Base):
    __tablename__ = "events"

    # The integer id orders events for dispatch; `uid` is what the API and webhooks show.
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # NULL until the dispatch job has handed the event on; indexed because that job asks
    # for exactly these rows every few seconds.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    # A dispatcher's lease: while it holds one, other workers leave the event (and every
    # later one) alone, which keeps dispatch in order and once.
    claimed_by: Mapped[str | None] = mapped_column(String(32), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
