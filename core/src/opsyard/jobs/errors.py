"""The error codes of scheduled jobs: those the CLI and API raise, and those a run records."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

UNKNOWN_JOB = ErrorCode(
    "jobs.unknown_job",
    Category.USER_FIXABLE,
    404,
    "No such job",
    "Run 'opsyard jobs list' to see the jobs of core and the installed plugins.",
)
BAD_TARGET = ErrorCode(
    "jobs.bad_target",
    Category.USER_FIXABLE,
    422,
    "The job cannot run for that team",
    "Pass --team SLUG for per-team jobs only, and only for a team that enabled the plugin.",
)
BAD_INSTANT = ErrorCode(
    "jobs.bad_instant",
    Category.USER_FIXABLE,
    422,
    "Not an ISO-8601 instant",
    "Write the instant like 2026-03-01T09:00:00Z; without an offset it is read as UTC.",
)
BUSY = ErrorCode(
    "jobs.overlap",
    Category.RETRYABLE,
    409,
    "The job is already running",
    "A job never overlaps itself; try again once the running one has finished.",
)
RUN_FAILED = ErrorCode(
    "jobs.run_failed",
    Category.OPERATOR_FIXABLE,
    500,
    "The job did not succeed",
    "Read the run's error code and detail with 'opsyard jobs runs NAME'.",
)
NO_BROKER = ErrorCode(
    "jobs.no_broker",
    Category.OPERATOR_FIXABLE,
    500,
    "OPSYARD_BROKER_URL is not set",
    "Set OPSYARD_BROKER_URL to redis://... or amqp://...; without a broker, "
    "'opsyard serve' runs the jobs itself.",
)

ERROR_CODES: tuple[ErrorCode, ...] = (
    UNKNOWN_JOB,
    BAD_TARGET,
    BAD_INSTANT,
    BUSY,
    RUN_FAILED,
    NO_BROKER,
)

# Codes recorded on runs (job_runs.error_code) by the machinery rather than by a job.
TIME_LIMIT = "jobs.time_limit"  # interrupted at its time limit
ABANDONED = "jobs.abandoned"  # its lease expired unfinished: the worker died, was killed or hung
OVERLAP = BUSY.code  # another run of the same job, team and location held the lease
SUPERSEDED = "jobs.superseded"  # a later slot was queued before this one started
NOT_ENABLED = "jobs.not_enabled"  # the team switched the plugin off, or is gone
PUBLISH_FAILED = "jobs.publish_failed"  # the broker refused the message
