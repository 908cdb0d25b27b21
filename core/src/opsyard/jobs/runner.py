"""Runs one queued run: claim it under its lease, call the job, record how it ended.

The same code runs a run in every backend: a thread of ``opsyard serve``, a Celery worker,
and ``opsyard jobs run``. It is safe to call twice for one run (a message redelivered after
its worker died, or delivered twice): a run that finished is skipped, a run whose lease is
still held by another attempt is waited for, and only an attempt that died without finishing
(its lease expired) is taken over.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from opsyard import errors as core_errors
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.extension import JobContext
from opsyard.jobs import errors, leases
from opsyard.jobs.catalogue import Catalogue, Job
from opsyard.jobs.leases import LeaseKey
from opsyard.jobs.models import FINISHED, JobRun, Outcome
from opsyard.jobs.watchdog import JobTimeLimitExceeded, watchdog
from opsyard.teams.models import Team, TeamPlugin

log = logging.getLogger(__name__)

# A lease outlives the job's time limit by this much, so the watchdog (and Celery's hard
# limit, a little later) can stop the job before anyone else may take the lease over.
HARD_LIMIT_GRACE_SECONDS = 3
LEASE_GRACE = timedelta(seconds=HARD_LIMIT_GRACE_SECONDS + 1)
DETAIL_MAX = 500
_POLL_SECONDS = 0.5


def worker_name(kind: str) -> str:
    """How a process names itself on the runs it records: '<kind>@<host>/<pid>'."""
    return f"{kind}@{socket.gethostname()}/{os.getpid()}"


def lease_key(job: Job, run: JobRun) -> LeaseKey:
    """Per-location jobs hold one lease per location; the others one per (job, team)."""
    return LeaseKey(run.job, run.team, run.location if job.spec.per_location else "")


def lease_ttl(job: Job) -> timedelta:
    return timedelta(seconds=job.spec.time_limit_seconds) + LEASE_GRACE


@dataclass(frozen=True)
class _Claimed:
    job: Job
    run: JobRun
    key: LeaseKey
    attempt: int


@dataclass(frozen=True)
class _Wait:
    until: datetime


@dataclass(frozen=True)
class _Done:
    run: JobRun | None


class RunBusy(Exception):
    """Another attempt of this same run holds its lease until `until`: it is still working
    (a message delivered again too early) or dead, and then the lease expires."""

    def __init__(self, run_id: int, until: datetime) -> None:
        super().__init__(f"run {run_id} is held by another attempt until {until.isoformat()}")
        self.until = until


def execute(
    ctx: PortalContext,
    catalogue: Catalogue,
    *,
    run_id: int,
    worker: str,
    expect_job: str | None = None,
    expect_at: datetime | None = None,
    wait: bool = True,
) -> JobRun | None:
    """Run the queued run `run_id` once; returns it as it ended (None if it does not exist).

    `expect_job` and `expect_at` guard against a stale message naming a run id that now
    belongs to another run (a database restored or recreated behind a broker's back). When
    another attempt of the run holds its lease, waits for it, or raises ``RunBusy`` if
    `wait` is false.
    """
    holder = f"{worker}#{uuid.uuid4().hex[:8]}"
    while True:
        claim = _claim(
            ctx,
            catalogue,
            run_id=run_id,
            holder=holder,
            worker=worker,
            expect=(expect_job, expect_at),
        )
        if isinstance(claim, _Done):
            return claim.run
        if isinstance(claim, _Wait):
            if not wait:
                raise RunBusy(run_id, claim.until)
            time.sleep(max(0.05, min(_POLL_SECONDS, (claim.until - utcnow()).total_seconds())))
            continue
        break
    outcome, code, detail = _call(ctx, claim)
    return _finish(ctx, claim, holder=holder, outcome=outcome, code=code, detail=detail)


def _claim(
    ctx: PortalContext,
    catalogue: Catalogue,
    *,
    run_id: int,
    holder: str,
    worker: str,
    expect: tuple[str | None, datetime | None],
) -> _Claimed | _Wait | _Done:
    with session_scope(ctx.sessions) as session:
        run = session.get(JobRun, run_id)
        if run is None or not _matches(run, *expect):
            log.warning("job run %s not found or not the one expected %s; dropped", run_id, expect)
            return _Done(None)
        if not _claimable(run):
            return _Done(run)
        job = catalogue.get(run.job)
        if job is None:
            _close(session, run, Outcome.FAILED, errors.UNKNOWN_JOB.code, "no such job here")
            return _Done(run)
        if run.team and not _still_enabled(session, job, run.team):
            detail = f"team {run.team} no longer has {job.plugin} enabled"
            _close(session, run, Outcome.SKIPPED, errors.NOT_ENABLED, detail)
            return _Done(run)
        now = utcnow()
        key = lease_key(job, run)
        before = leases.current(session, key=key)
        if not leases.acquire(
            session, key=key, holder=holder, ttl=lease_ttl(job), now=now, run_id=run.id
        ):
            lease = leases.current(session, key=key)
            if lease is not None and lease.run_id == run.id:
                return _Wait(lease.expires_at)
            if run.outcome == Outcome.QUEUED:
                detail = f"run {lease.run_id if lease else '?'} of this job was still running"
                _close(session, run, Outcome.SKIPPED, errors.OVERLAP, detail)
            return _Done(run)
        if before is not None and before.holder and before.run_id not in (None, run.id):
            _abandon(session, run_id=before.run_id, now=now)
        attempt = run.attempts + 1
        claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(JobRun)
            .where(JobRun.id == run.id, JobRun.attempts == run.attempts, _claimable_clause())
            .values(
                outcome=Outcome.RUNNING.value,
                started_at=now,
                finished_at=None,
                attempts=attempt,
                worker=worker,
                worker_location=ctx.settings.location,
                error_code=None,
                error_detail=None,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            # Another attempt finished or took it between our read and our update.
            leases.release(session, key=key, holder=holder, now=now)
            return _Done(session.get(JobRun, run.id, populate_existing=True))
        session.refresh(run)
        return _Claimed(job=job, run=run, key=key, attempt=attempt)


def _matches(run: JobRun, job: str | None, at: datetime | None) -> bool:
    return (job is None or run.job == job) and (at is None or run.scheduled_for == at)


def _claimable(run: JobRun) -> bool:
    """Not finished, or finished only because an earlier attempt was abandoned."""
    if run.outcome not in FINISHED:
        return True
    return run.outcome == Outcome.TIMED_OUT and run.error_code == errors.ABANDONED


def _claimable_clause() -> Any:
    return or_(
        JobRun.outcome.in_([Outcome.QUEUED.value, Outcome.RUNNING.value]),
        and_(JobRun.outcome == Outcome.TIMED_OUT.value, JobRun.error_code == errors.ABANDONED),
    )


def _still_enabled(session: Session, job: Job, team_slug: str) -> bool:
    team_id = session.scalar(select(Team.id).where(Team.slug == team_slug))
    if team_id is None:
        return False
    return job.is_core or session.get(TeamPlugin, (team_id, job.plugin)) is not None


def _close(session: Session, run: JobRun, outcome: Outcome, code: str, detail: str) -> None:
    """Finish a run that never started (skipped, unknown job) if nobody else finished it."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, _claimable_clause())
        .values(
            outcome=outcome.value,
            finished_at=utcnow(),
            error_code=code,
            error_detail=detail[:DETAIL_MAX],
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.refresh(run)


def _abandon(session: Session, *, run_id: int | None, now: datetime) -> None:
    """Record that the run whose expired lease was just taken over never finished."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.outcome == Outcome.RUNNING.value)
        .values(
            outcome=Outcome.TIMED_OUT.value,
            finished_at=now,
            error_code=errors.ABANDONED,
            error_detail="its lease expired before it finished: the process running it "
            "stopped, was killed, or hung past its time limit",
        )
        .execution_options(synchronize_session=False)
    )


def _call(ctx: PortalContext, claim: _Claimed) -> tuple[Outcome, str | None, str | None]:
    run, spec = claim.run, claim.job.spec
    context = JobContext(
        at=run.scheduled_for,
        portal=ctx,
        team_slug=run.team or None,
        location=run.location or ctx.settings.location,
    )
    try:
        with watchdog().limit(spec.time_limit_seconds):
            spec.run(context)
    except JobTimeLimitExceeded:
        detail = f"stopped at its time limit of {spec.time_limit_seconds} s"
        log.warning("job %s (run %s) %s", spec.name, run.id, detail)
        return Outcome.TIMED_OUT, errors.TIME_LIMIT, detail
    except OpsyardError as exc:
        log.warning("job %s (run %s) failed: %s (%s)", spec.name, run.id, exc.detail, exc.code)
        return Outcome.FAILED, exc.code, exc.detail
    except (Exception, SystemExit) as exc:
        log.exception("job %s (run %s) raised", spec.name, run.id)
        return Outcome.FAILED, core_errors.INTERNAL.code, f"{type(exc).__name__}: {exc}"
    return Outcome.SUCCEEDED, None, None


def _finish(
    ctx: PortalContext,
    claim: _Claimed,
    *,
    holder: str,
    outcome: Outcome,
    code: str | None,
    detail: str | None,
) -> JobRun:
    # A database blip here would leave the run looking abandoned; try a few times.
    for attempt in range(3):
        try:
            with session_scope(ctx.sessions) as session:
                now = utcnow()
                session.execute(
                    update(JobRun)
                    .where(
                        JobRun.id == claim.run.id,
                        JobRun.outcome == Outcome.RUNNING.value,
                        JobRun.attempts == claim.attempt,
                    )
                    .values(
                        outcome=outcome.value,
                        finished_at=now,
                        error_code=code,
                        error_detail=detail[:DETAIL_MAX] if detail else None,
                    )
                    .execution_options(synchronize_session=False)
                )
                leases.release(session, key=claim.key, holder=holder, now=now)
                ended = session.get(JobRun, claim.run.id, populate_existing=True)
                assert ended is not None
                return ended
        except OperationalError:
            if attempt == 2:
                raise
            log.warning("recording the end of run %s failed; retrying", claim.run.id)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def sweep_abandoned(ctx: PortalContext) -> int:
    """Free leases that expired while still naming a run, recording those runs as abandoned.

    A redelivered message may still take such a run over and complete it.
    """
    swept = 0
    with session_scope(ctx.sessions) as session:
        now = utcnow()
        for lease in leases.expired_run_leases(session, now=now):
            key = LeaseKey(lease.job, lease.team, lease.location)
            # Release first: only if the stale holder still had it is its run abandoned, so
            # an attempt that took the lease over a moment ago is left alone.
            if lease.holder and leases.release(session, key=key, holder=lease.holder, now=now):
                _abandon(session, run_id=lease.run_id, now=now)
                swept += 1
    return swept
