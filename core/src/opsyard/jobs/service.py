"""Jobs as the CLI, the API and the schedulers see them: targets, queued runs, listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from opsyard import errors as core_errors
from opsyard.config import Settings
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.jobs import errors, runner
from opsyard.jobs.catalogue import Catalogue, Job
from opsyard.jobs.leases import insert_ignoring_conflicts
from opsyard.jobs.models import JobRun, Outcome, Trigger
from opsyard.teams.models import Team, TeamPlugin

LOCATION_QUEUE_PREFIX = "loc."


def location_queue(location: str) -> str:
    """The queue of location-bound work for `location`: ``loc.<name>``."""
    return f"{LOCATION_QUEUE_PREFIX}{location}"


def fan_out_locations(settings: Settings) -> list[str]:
    """The locations per-location jobs run in: OPSYARD_LOCATIONS, else this process's own."""
    named = [name.strip() for name in settings.locations.split(",") if name.strip()]
    return list(dict.fromkeys(named)) or [settings.location]


@dataclass(frozen=True)
class Target:
    """One thing a job runs for each slot: the job, for a team and/or a location or neither."""

    job: Job
    team: str = ""
    location: str = ""

    @property
    def key(self) -> str:
        return f"{self.job.name}|{self.team}|{self.location}"

    @property
    def queue(self) -> str:
        return location_queue(self.location) if self.job.spec.per_location else self.job.spec.queue


def targets(session: Session, *, catalogue: Catalogue, locations: list[str]) -> list[Target]:
    """Every (job, team, location) the scheduler should run: per-team jobs for each team that
    enabled the plugin (every team for core's jobs), per-location jobs for each location."""
    slugs = list(session.scalars(select(Team.slug).order_by(Team.slug)))
    enabled: dict[str, set[str]] = {}
    rows = session.execute(select(TeamPlugin.plugin, Team.slug).join(Team))
    for plugin, slug in rows:
        enabled.setdefault(plugin, set()).add(slug)
    found: list[Target] = []
    for job in catalogue:
        teams = [""]
        if job.spec.per_team:
            teams = slugs if job.is_core else sorted(enabled.get(job.plugin, set()))
        places = locations if job.spec.per_location else [""]
        found.extend(Target(job, team, place) for team in teams for place in places)
    return found


def last_slots(session: Session) -> dict[tuple[str, str, str], datetime]:
    """The latest slot queued for each (job, team, location), from the recorded runs."""
    query = (
        select(JobRun.job, JobRun.team, JobRun.location, func.max(JobRun.scheduled_for))
        .where(JobRun.trigger == Trigger.SCHEDULE.value)
        .group_by(JobRun.job, JobRun.team, JobRun.location)
    )
    return {(job, team, location): slot for job, team, location, slot in session.execute(query)}


def queue_run(
    session: Session,
    *,
    target: Target,
    slot: datetime,
    due_at: datetime,
    queued_by: str,
    trigger: Trigger = Trigger.SCHEDULE,
    now: datetime | None = None,
) -> JobRun | None:
    """Record a queued run of `target` as of `slot`. A scheduled slot is queued once: None
    when it already was. Older scheduled runs of the target still waiting are superseded."""
    now = now or utcnow()
    slot_key = f"{target.key}|{slot.isoformat()}" if trigger is Trigger.SCHEDULE else None
    values = {
        "job": target.job.name,
        "team": target.team,
        "location": target.location,
        "trigger": trigger.value,
        "scheduled_for": slot,
        "due_at": due_at,
        # Manual runs run in the process that asked for them, on no queue.
        "queue": target.queue if trigger is Trigger.SCHEDULE else "",
        "queued_at": now,
        "queued_by": queued_by,
        "outcome": Outcome.QUEUED.value,
        "attempts": 0,
        "slot_key": slot_key,
    }
    run_id = insert_ignoring_conflicts(session, JobRun, values, JobRun.id).scalar()
    if run_id is None:
        return None
    if trigger is Trigger.SCHEDULE:
        # A run still waiting when a later slot comes due would only report stale state;
        # the later one replaces it (its message is skipped when a worker gets to it).
        session.execute(
            update(JobRun)
            .where(
                JobRun.job == target.job.name,
                JobRun.team == target.team,
                JobRun.location == target.location,
                JobRun.scheduled_for < slot,
                JobRun.outcome == Outcome.QUEUED.value,
                JobRun.trigger == Trigger.SCHEDULE.value,
            )
            .values(
                outcome=Outcome.SKIPPED.value,
                finished_at=now,
                error_code=errors.SUPERSEDED,
                error_detail=f"the slot of {slot.isoformat()} was queued before it started",
            )
            .execution_options(synchronize_session=False)
        )
    return session.get(JobRun, run_id)


def mark_publish_failed(session: Session, *, run_id: int, detail: str) -> None:
    """Record that the broker refused a queued run's message."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.outcome == Outcome.QUEUED.value)
        .values(
            outcome=Outcome.FAILED.value,
            finished_at=utcnow(),
            error_code=errors.PUBLISH_FAILED,
            error_detail=detail[: runner.DETAIL_MAX],
        )
        .execution_options(synchronize_session=False)
    )


def list_runs(session: Session, *, job: str | None = None, limit: int = 50) -> list[JobRun]:
    """The latest runs, newest first, of one job or of all."""
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if job is not None:
        query = query.where(JobRun.job == job)
    return list(session.scalars(query))


def describe_jobs(*, catalogue: Catalogue, now: datetime) -> list[dict[str, Any]]:
    """One row per job: name, plugin, schedule, queue, scope and next slot."""
    rows = []
    for job in catalogue:
        spec = job.spec
        rows.append(
            {
                "name": job.name,
                "plugin": job.plugin,
                "schedule": job.schedule.describe(),
                "interval_seconds": spec.interval_seconds,
                "cron": spec.cron,
                "jitter_seconds": spec.jitter_seconds,
                "queue": location_queue("<location>") if spec.per_location else spec.queue,
                "per_team": spec.per_team,
                "per_location": spec.per_location,
                "time_limit_seconds": spec.time_limit_seconds,
                "next_run": job.schedule.next_after(now),
            }
        )
    return rows


def run_row(run: JobRun) -> dict[str, Any]:
    """A run as plain values, for the CLI's JSON and the API."""
    return {
        "id": run.id,
        "job": run.job,
        "team": run.team or None,
        "location": run.location or None,
        "trigger": run.trigger,
        "scheduled_for": run.scheduled_for,
        "due_at": run.due_at,
        "queue": run.queue or None,
        "queued_at": run.queued_at,
        "queued_by": run.queued_by or None,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "outcome": run.outcome,
        "error_code": run.error_code,
        "error_detail": run.error_detail,
        "worker": run.worker,
        "worker_location": run.worker_location,
        "attempts": run.attempts,
    }


def run_now(
    ctx: PortalContext,
    *,
    catalogue: Catalogue,
    name: str,
    team: str | None,
    at: datetime | None,
    worker: str,
) -> JobRun:
    """Run a job in this process right away, as of `at` (default: now), and record it."""
    job = catalogue.get(name)
    if job is None:
        raise OpsyardError(errors.UNKNOWN_JOB, f"No job {name!r}; see 'opsyard jobs list'.")
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        _check_team(session, job=job, team=team)
        location = ctx.settings.location if job.spec.per_location else ""
        target = Target(job, team or "", location)
        run = queue_run(
            session,
            target=target,
            slot=at or now,
            due_at=now,
            queued_by=worker,
            trigger=Trigger.MANUAL,
            now=now,
        )
        assert run is not None  # manual runs are never de-duplicated
        run_id = run.id
    ended = runner.execute(ctx, catalogue, run_id=run_id, worker=worker)
    assert ended is not None
    return ended


def _check_team(session: Session, *, job: Job, team: str | None) -> None:
    if job.spec.per_team and not team:
        raise OpsyardError(
            errors.BAD_TARGET, f"{job.name} runs once per team; name one with --team SLUG."
        )
    if not job.spec.per_team and team:
        raise OpsyardError(errors.BAD_TARGET, f"{job.name} is not a per-team job; drop --team.")
    if not team:
        return
    team_id = session.scalar(select(Team.id).where(Team.slug == team))
    if team_id is None:
        raise OpsyardError(core_errors.NOT_FOUND, f"No team {team!r}.")
    if not job.is_core and session.get(TeamPlugin, (team_id, job.plugin)) is None:
        raise OpsyardError(
            errors.BAD_TARGET, f"Team {team} has not enabled {job.plugin}, so {job.name} skips it."
        )


def prune_runs(session: Session, *, before: datetime) -> int:
    """Delete finished runs queued before `before`; returns how many."""
    result = session.execute(
        delete(JobRun)
        .where(
            JobRun.queued_at < before,
            JobRun.outcome.not_in([Outcome.QUEUED.value, Outcome.RUNNING.value]),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retention_cutoff(settings: Settings, *, now: datetime) -> datetime:
    return now - timedelta(days=settings.job_run_retention_days)
