"""Leases in the database: at most one holder per (job, team, location) at a time.

Acquiring is a single conditional UPDATE ("set me as holder where the lease is free, expired
or already mine"), after making sure the row exists with an INSERT that ignores conflicts.
Both statements are atomic on SQLite and PostgreSQL, so two schedulers or two workers racing
for the same lease cannot both win. Leases expire, so a holder that died frees it eventually.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsyard.jobs.models import JobLease

# The scheduler's leadership uses the lease table too; job names always contain a dot.
SCHEDULER_LEASE = "scheduler"
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LeaseKey:
    job: str
    team: str = ""
    location: str = ""

    def where(self) -> tuple[Any, ...]:
        return (
            JobLease.job == self.job,
            JobLease.team == self.team,
            JobLease.location == self.location,
        )


def insert_ignoring_conflicts(
    session: Session, model: type[Any], values: dict[str, Any], *returning: Any
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL, with RETURNING `returning`
    when given (no row comes back when the insert was ignored)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    else:
        raise RuntimeError(f"unsupported database {dialect}")
    if returning:
        statement = statement.returning(*returning)
    return session.execute(statement)


def acquire(
    session: Session,
    *,
    key: LeaseKey,
    holder: str,
    ttl: timedelta,
    now: datetime,
    run_id: int | None = None,
) -> bool:
    """Take (or renew) the lease for `holder` until now + `ttl`; False when someone else
    holds it and it has not expired."""
    insert_ignoring_conflicts(
        session,
        JobLease,
        {"job": key.job, "team": key.team, "location": key.location, "expires_at": _LONG_AGO},
    )
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(JobLease)
        .where(
            *key.where(),
            or_(
                JobLease.holder.is_(None),
                JobLease.expires_at <= now,
                JobLease.holder == holder,
            ),
        )
        .values(holder=holder, run_id=run_id, acquired_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release(session: Session, *, key: LeaseKey, holder: str, now: datetime) -> bool:
    """Free the lease if `holder` still has it (a lease taken over after expiry stays with
    its new holder)."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(JobLease)
        .where(*key.where(), JobLease.holder == holder)
        .values(holder=None, run_id=None, expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def current(session: Session, *, key: LeaseKey) -> JobLease | None:
    """The lease row as it is now, read fresh from the database."""
    return session.scalars(
        select(JobLease).where(*key.where()).execution_options(populate_existing=True)
    ).first()


def is_held(lease: JobLease | None, *, now: datetime) -> bool:
    return lease is not None and lease.holder is not None and lease.expires_at > now


def expired_run_leases(session: Session, *, now: datetime) -> list[JobLease]:
    """Leases still naming a run although they have expired: that run's runner is gone."""
    query = select(JobLease).where(
        JobLease.holder.is_not(None), JobLease.run_id.is_not(None), JobLease.expires_at <= now
    )
    return list(session.scalars(query))
