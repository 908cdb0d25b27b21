"""Job runs and job leases.

``team`` and ``location`` are ``""`` rather than NULL when a run is not for a team or not
bound to a location: they are part of the lease's primary key and of equality filters, and
NULL never equals NULL.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base, UTCDateTime, utcnow


class Outcome(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"


FINISHED = frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.TIMED_OUT, Outcome.SKIPPED})


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class JobRun(Base):
    """One run of a job: queued by a scheduler (or by hand), claimed and finished by a runner."""

    __tablename__ = "job_runs"
    __table_args__ = (
        # The scheduler's start-up query (last slot per target) and per-target updates.
        Index("ix_job_runs_target", "job", "team", "location", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(64), default="")
    # The location the run is for: set for per-location jobs only.
    location: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(20))
    # The instant the job runs as of (its schedule slot, or `jobs run --at`).
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    # When it was due to start: the slot plus its jitter.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queue: Mapped[str] = mapped_column(String(200), default="")
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    queued_by: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str] = mapped_column(String(20), default=Outcome.QUEUED.value)
    error_code: Mapped[str | None] = mapped_column(String(100), default=None)
    error_detail: Mapped[str | None] = mapped_column(String(500), default=None)
    # Where it ran: the process ("<kind>@<host>/<pid>", e.g. "celery@worker-3/4711") and
    # that process's OPSYARD_LOCATION.
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    worker_location: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # job|team|location|slot for scheduled runs, so a slot is queued once however many
    # schedulers try; NULL for manual runs, which may replay an instant any number of times.
    slot_key: Mapped[str | None] = mapped_column(String(400), unique=True, default=None)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class JobLease(Base):
    """Who may run a (job, team, location) right now; also the scheduler's leadership.

    A free lease has no holder. Acquiring is one conditional UPDATE (free, expired, or already
    ours), so two processes racing for it cannot both win on SQLite or PostgreSQL.
    """

    __tablename__ = "job_leases"

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    location: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    holder: Mapped[str | None] = mapped_column(String(200), default=None)
    # The run holding it; no foreign key, so pruning old runs never touches leases.
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
