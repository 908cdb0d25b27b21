"""Core's jobs module as a built-in plugin: its own housekeeping job and its commands."""

from __future__ import annotations

import click

from opsyard.db.engine import session_scope
from opsyard.errors import ErrorCode
from opsyard.extension import JobContext, JobSpec
from opsyard.hookspecs import hookimpl
from opsyard.jobs import errors, service


def prune_runs(context: JobContext) -> None:
    """Delete finished runs older than OPSYARD_JOB_RUN_RETENTION_DAYS."""
    settings = context.portal.settings
    with session_scope(context.portal.sessions) as session:
        service.prune_runs(session, before=service.retention_cutoff(settings, now=context.at))


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    # Jittered so that many portals sharing a database server do not all delete at :00.
    return [
        JobSpec(
            name="core.jobs.prune_runs",
            run=prune_runs,
            interval_seconds=3600,
            jitter_seconds=300,
        )
    ]


@hookimpl
def error_codes() -> list[ErrorCode]:
    return list(errors.ERROR_CODES)


@hookimpl
def cli_commands() -> list[click.Command]:
    # Imported here: the CLI modules are not needed by the web app or the workers.
    from opsyard.jobs.cli import COMMANDS

    return COMMANDS
