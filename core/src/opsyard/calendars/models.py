"""A team's sprint calendar: a cadence (length and anchor) or an explicit list of sprints."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow


class TeamCalendar(Base):
    """How a team counts sprints. `mode` is ``cadence`` (every `length_days` from
    `anchor_on`) or ``explicit`` (the team's `TeamSprint` rows)."""

    __tablename__ = "team_calendars"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(20))
    length_days: Mapped[int] = mapped_column(Integer)
    anchor_on: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class TeamSprint(Base):
    """One sprint of an explicit calendar; `ends_on` is its last day."""

    __tablename__ = "team_sprints"
    __table_args__ = (UniqueConstraint("team_id", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
