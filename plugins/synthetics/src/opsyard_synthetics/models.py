"""The synthetics plugin's tables, all prefixed ``synthetics_``.

A check's definition is stored whole as the JSON of its `CheckDefinition` (what `apply` and
`export` read and write); the columns beside it are what jobs, alerting and pages query.
Secrets live in their own table and never in a definition, which only names them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow

# Run outcomes and per-location states (see alerting.py).
OK, DEGRADED, FAILING, ERROR = "ok", "degraded", "failing", "error"
# Alert levels and statuses.
NONE, NOTIFY, PAGE = "none", "notify", "page"
OPEN, RESOLVED = "open", "resolved"


class Check(Base):
    __tablename__ = "synthetics_checks"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    # CheckDefinition.model_dump(mode="json"): the check as code.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    # slots.offset_seconds("<team slug>/<name>", interval): stable while the check exists.
    offset_seconds: Mapped[float] = mapped_column(Float)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    # The locations it runs from; None means every registered location.
    locations: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    depends_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("synthetics_checks.id", ondelete="SET NULL"), default=None
    )
    quorum_failing: Mapped[int] = mapped_column(Integer, default=1)
    quorum_of: Mapped[int | None] = mapped_column(Integer, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The level of the check's open alert ("none", "notify", "page"): alerting.decide's
    # `previous`.
    alert_level: Mapped[str] = mapped_column(String(10), default=NONE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Secret(Base):
    """A value a team's checks reference as ``{{ secrets.NAME }}``; shown to nobody after
    it is set, and redacted from every stored response."""

    __tablename__ = "synthetics_secrets"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Location(Base):
    """A probing location, as its workers report it. Unhealthy locations (workers silent,
    or their canary check failing) are left out of every quorum."""

    __tablename__ = "synthetics_locations"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    heartbeat_by: Mapped[str | None] = mapped_column(String(255), default=None)
    canary_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    canary_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    canary_reason: Mapped[str | None] = mapped_column(Text, default=None)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    unhealthy_reason: Mapped[str | None] = mapped_column(Text, default=None)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Schedule(Base):
    """When a check is next due from one location. The location's run job claims due rows
    (``next_slot_at <= now``) through the (location, next_slot_at) index."""

    __tablename__ = "synthetics_schedules"
    __table_args__ = (
        UniqueConstraint("check_id", "location"),
        Index("ix_synthetics_schedules_location_next_slot_at", "location", "next_slot_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(
        ForeignKey("synthetics_checks.id", ondelete="CASCADE"), index=True
    )
    location: Mapped[str] = mapped_column(String(64))
    next_slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Run(Base):
    """One run of a check from one location: outcome, timings per step and phase, every
    assertion's result and a redacted excerpt of the response (in `steps`)."""

    __tablename__ = "synthetics_runs"
    __table_args__ = (
        Index("ix_synthetics_runs_check_location_started", "check_id", "location", "started_at"),
        Index("ix_synthetics_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("synthetics_checks.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    location: Mapped[str] = mapped_column(String(64))
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[float] = mapped_column(Float)
    lag_ms: Mapped[float] = mapped_column(Float)
    # Slots skipped before this run because no worker ran them in time (reported, not run).
    missed_slots: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Rollup(Base):
    """One check's results from one location over one UTC hour, kept after raw runs are
    pruned; `histogram` is a stats.LatencyHistogram's JSON, mergeable for 24 h and 7 d."""

    __tablename__ = "synthetics_rollups"

    check_id: Mapped[int] = mapped_column(
        ForeignKey("synthetics_checks.id", ondelete="CASCADE"), primary_key=True
    )
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    degraded: Mapped[int] = mapped_column(Integer, default=0)
    failing: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[int] = mapped_column(Integer, default=0)
    histogram: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LocationState(Base):
    """The state machine of one check at one location (alerting.LocationState)."""

    __tablename__ = "synthetics_location_states"

    check_id: Mapped[int] = mapped_column(
        ForeignKey("synthetics_checks.id", ondelete="CASCADE"), primary_key=True
    )
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default=OK)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    degradations: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(Base):
    """An alert of a check: opened when the quorum is reached, resolved with the same
    de-duplication key when it recovers."""

    __tablename__ = "synthetics_alerts"
    __table_args__ = (Index("ix_synthetics_alerts_check_status", "check_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("synthetics_checks.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    dedup_key: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text, default="")
    failing_locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class MaintenanceWindow(Base):
    """While a window is on, checks run and record but page nobody (`check_id` None: every
    check of the team)."""

    __tablename__ = "synthetics_maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    check_id: Mapped[int | None] = mapped_column(
        ForeignKey("synthetics_checks.id", ondelete="CASCADE"), default=None
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TeamSettings(Base):
    """A team's synthetics rules; a team without a row has the defaults."""

    __tablename__ = "synthetics_team_settings"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    public_status_page: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_threshold: Mapped[int] = mapped_column(Integer, default=2)
    success_threshold: Mapped[int] = mapped_column(Integer, default=2)
    retention_days: Mapped[int] = mapped_column(Integer, default=14)
