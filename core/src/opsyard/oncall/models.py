"""Rotations, their members in order, and overrides that hand a window to someone else."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Date, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsyard.auth.models import User
from opsyard.db.base import Base, UTCDateTime, utcnow


class Rotation(Base):
    """A team's rota: members take turns, handing over daily or weekly at a local time."""

    __tablename__ = "oncall_rotations"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # An IANA name (Europe/Berlin): hand-offs follow the wall clock across DST changes.
    timezone: Mapped[str] = mapped_column(String(64))
    handoff_time: Mapped[time] = mapped_column(Time())
    period: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[RotationMember]] = relationship(
        order_by="RotationMember.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class RotationMember(Base):
    """One turn in a rotation; `position` 0 is on call in the first shift."""

    __tablename__ = "oncall_members"

    rotation_id: Mapped[int] = mapped_column(
        ForeignKey("oncall_rotations.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    user: Mapped[User] = relationship(lazy="joined")


class Override(Base):
    """`user` covers [starts_at, ends_at) in place of whoever the rotation names."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(
        ForeignKey("oncall_rotations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])
