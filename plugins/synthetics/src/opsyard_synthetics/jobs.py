"""The synthetics plugin's scheduled jobs: running due checks and heartbeats at every
location, judging the locations' health, and the hourly roll-up and pruning of results."""

from __future__ import annotations

from datetime import datetime

from opsyard.db.base import utcnow
from opsyard.extension import JobContext, JobSpec
from opsyard_synthetics import execution, locations, rollups

RUN_JOB = "synthetics.run"
HEARTBEAT_JOB = "synthetics.heartbeat"
HEALTH_JOB = "synthetics.health"
ROLLUP_JOB = "synthetics.rollup"

RUN_INTERVAL_SECONDS = 10
# Checks claimed by one run; they are probed all at once, each within the run budget.
RUN_BATCH = execution.MAX_CONCURRENCY


def _now(context: JobContext) -> datetime:
    # Probes run now, whatever the instant the job was queued for: a run that waited in its
    # queue is as late as the wall clock says, and its lag must show it.
    return max(context.at, utcnow())


def _location(context: JobContext) -> str:
    return context.location or context.portal.settings.location


def run_checks(context: JobContext) -> None:
    """Run what is due at the job's location."""
    execution.run_due(
        context.portal, location=_location(context), at=_now(context), limit=RUN_BATCH
    )


def beat(context: JobContext) -> None:
    """Say that the job's location is alive and run its canary."""
    locations.heartbeat(context.portal, location=_location(context), at=_now(context))


def judge_health(context: JobContext) -> None:
    """Mark silent or failing locations unhealthy, and recovered ones healthy again."""
    locations.update_health(context.portal, at=_now(context))


def roll_up(context: JobContext) -> None:
    """Roll up the previous hour's runs and prune what is past its retention."""
    rollups.roll_up_and_prune(context.portal, now=context.at)


JOBS: tuple[JobSpec, ...] = (
    # Every 10 s, so a check starts at most 10 s after its slot; the time limit stays below
    # the interval so one location's runs never overlap (the run budget fits inside it).
    JobSpec(
        name=RUN_JOB,
        run=run_checks,
        interval_seconds=RUN_INTERVAL_SECONDS,
        time_limit_seconds=RUN_INTERVAL_SECONDS - 1,
        per_location=True,
    ),
    JobSpec(
        name=HEARTBEAT_JOB,
        run=beat,
        interval_seconds=30,
        time_limit_seconds=25,
        per_location=True,
    ),
    # Once for all locations: a location cannot be trusted to say it is unhealthy itself.
    JobSpec(name=HEALTH_JOB, run=judge_health, interval_seconds=30, time_limit_seconds=25),
    JobSpec(name=ROLLUP_JOB, run=roll_up, cron="5 * * * *", time_limit_seconds=600),
)
