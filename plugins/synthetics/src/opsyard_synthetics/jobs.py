"""The synthetics plugin's scheduled jobs: running due checks and heartbeats at every
location, judging the locations' health, and the hourly roll-up and pruning of results."""

from __future__ import annotations

from datetime import datetime, timedelta

from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.extension import JobContext, JobSpec
from opsyard_synthetics import errors, execution, location_runner, locations, rollups

RUN_JOB = "synthetics.run"
HEARTBEAT_JOB = "synthetics.heartbeat"
HEALTH_JOB = "synthetics.health"
ROLLUP_JOB = "synthetics.rollup"

RUN_INTERVAL_SECONDS = 10
# A run claims the slots due before the next run, and this much more: the next run may be
# dispatched late, and its checks must already be in the runner's hands by their slots.
CLAIM_AHEAD = timedelta(seconds=RUN_INTERVAL_SECONDS + 5)
# The most one run claims: 2,000 checks a second per location, far above what one location
# is asked to run, so a location that was down catches up within a few runs.
CLAIM_LIMIT = 20_000


def _now(context: JobContext) -> datetime:
    # Probes run now, whatever the instant the job was queued for: a run that waited in its
    # queue is as late as the wall clock says, and its lag must show it.
    return max(context.at, utcnow())


def _location(context: JobContext) -> str:
    return context.location or context.portal.settings.location


def run_checks(context: JobContext) -> None:
    """Claim what is due at the job's location before the next run, and hand it to the
    location's runner in this process, which starts each check at its slot. Fails when
    runs handed over before could not be stored, so that it is seen."""
    location = _location(context)
    runner = location_runner.runner_for(context.portal, location)
    room = location_runner.MAX_PENDING - runner.pending
    if room > 0:
        runner.submit(
            execution.claim_ahead(
                context.portal,
                location=location,
                now=_now(context),
                ahead=CLAIM_AHEAD,
                limit=min(room, CLAIM_LIMIT),
            )
        )
    lost, reasons = runner.take_failures()
    if lost:
        raise OpsyardError(
            errors.RUNS_NOT_STORED,
            f"{lost} runs at {location} could not be stored since the last run: "
            + "; ".join(reasons[:3]),
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
    # Every 10 s, claiming what is due before the next run; the runner starts each check at
    # its slot, so the tick sets no check's lag. A run only claims, so it is quick.
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
