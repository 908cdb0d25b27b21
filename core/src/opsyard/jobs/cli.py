"""``opsyard jobs``, ``opsyard worker`` and ``opsyard scheduler``, added through the
``cli_commands`` hook of core's jobs module."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import click

from opsyard.cli.output import print_json, print_rows
from opsyard.cli.runtime import load_settings, open_portal
from opsyard.config import get_settings
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.jobs import errors, runner, service
from opsyard.jobs.catalogue import load_catalogue
from opsyard.jobs.models import Outcome
from opsyard.observability import configure_logging

log = logging.getLogger(__name__)


@click.group()
def jobs() -> None:
    """Scheduled jobs: list them, read their runs, run one now."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(as_json: bool) -> None:
    """List the jobs of core and the installed plugins, with their next slot (UTC)."""
    with open_portal(require_migrated=False) as ctx:
        rows = service.describe_jobs(catalogue=load_catalogue(ctx.registry), now=utcnow())
    columns = [
        ("name", "NAME"),
        ("plugin", "PLUGIN"),
        ("schedule", "SCHEDULE"),
        ("queue", "QUEUE"),
        ("per_team", "PER TEAM"),
        ("next_run", "NEXT RUN"),
    ]
    print_rows(rows, columns, as_json=as_json, empty="no jobs declared")


@jobs.command()
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def runs(name: str | None, limit: int, as_json: bool) -> None:
    """Show the latest runs, newest first, of job NAME or of every job."""
    with open_portal() as ctx, session_scope(ctx.sessions) as session:
        found = [service.run_row(r) for r in service.list_runs(session, job=name, limit=limit)]
    columns = [
        ("id", "ID"),
        ("job", "JOB"),
        ("team", "TEAM"),
        ("scheduled_for", "AS OF"),
        ("started_at", "STARTED"),
        ("duration", "SECONDS"),
        ("outcome", "OUTCOME"),
        ("error_code", "ERROR"),
        ("where", "WHERE"),
    ]
    if as_json:
        print_json(found)
        return
    for row in found:
        seconds = row["duration_seconds"]
        row["duration"] = f"{seconds:.2f}" if seconds is not None else None
        row["where"] = row["worker_location"] or row["location"]
    print_rows(found, columns, as_json=False, empty="no runs recorded")


@jobs.command()
@click.argument("name")
@click.option("--team", "team", metavar="SLUG", help="The team, for per-team jobs.")
@click.option(
    "--at",
    "at",
    metavar="ISO-8601",
    help="Run as of this instant instead of now, e.g. 2026-03-01T09:00:00Z (UTC if no offset).",
)
def run(name: str, team: str | None, at: str | None) -> None:
    """Run job NAME now, in this process, and record the run."""
    instant = parse_instant(at) if at is not None else None
    with open_portal() as ctx:
        ended = service.run_now(
            ctx,
            catalogue=load_catalogue(ctx.registry),
            name=name,
            team=team,
            at=instant,
            worker=runner.worker_name("cli"),
        )
    seconds = ended.duration_seconds
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    where = f" for team {ended.team}" if ended.team else ""
    summary = f"run {ended.id}: {ended.job}{where} as of {ended.scheduled_for.isoformat()}"
    if ended.outcome == Outcome.SUCCEEDED:
        click.echo(f"{summary} succeeded{took}")
        return
    click.echo(f"{summary} {ended.outcome}{took}")
    code = errors.BUSY if ended.error_code == errors.OVERLAP else errors.RUN_FAILED
    raise OpsyardError(
        code, f"{ended.job} {ended.outcome}: {ended.error_detail} ({ended.error_code})"
    )


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant; one without an offset is read as UTC."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise OpsyardError(
            errors.BAD_INSTANT, f"--at {text!r} is not an ISO-8601 instant like 2026-03-01T09:00Z."
        ) from exc
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _queues_option(values: tuple[str, ...]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@click.command()
@click.option(
    "-Q",
    "--queues",
    "queue_values",
    multiple=True,
    metavar="QUEUES",
    help="Queues to consume besides the location's, comma-separated or repeated.",
)
@click.option("--location", metavar="NAME", help="This worker's location (OPSYARD_LOCATION).")
@click.option(
    "--concurrency", type=click.IntRange(1, 256), help="Job processes (default: CPU count)."
)
def worker(queue_values: tuple[str, ...], location: str | None, concurrency: int | None) -> None:
    """Run a Celery worker for its location and QUEUES.

    It consumes its location's queue loc.<name> plus the queues given with -Q. Without
    --location and -Q it consumes 'default' and loc.<OPSYARD_LOCATION>. With
    --location NAME it consumes loc.NAME and only the queues given with -Q, so a worker in a
    probing location takes nothing but that location's work.
    """
    from opsyard.jobs.celery_app import DEFAULT_QUEUE, start_worker

    settings = load_settings()
    if not settings.broker_url:
        raise OpsyardError(errors.NO_BROKER)
    if location is not None:
        settings = settings.model_copy(update={"location": location})
        _export_location(location)
    queues = _queues_option(queue_values)
    if location is None and not queues:
        queues = [DEFAULT_QUEUE]
    queues = list(dict.fromkeys([service.location_queue(settings.location), *queues]))
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    with open_portal(settings=settings):
        pass  # refuse to start against a database with pending migrations
    click.echo(f"worker in location {settings.location} consuming {', '.join(queues)}")
    code = start_worker(settings, queues=queues, concurrency=concurrency)
    raise click.exceptions.Exit(code)


def _export_location(location: str) -> None:
    """Make --location what every process of this worker reads (forked children, and code
    that calls get_settings())."""
    os.environ["OPSYARD_LOCATION"] = location
    get_settings.cache_clear()


@click.command()
def scheduler() -> None:
    """Run the scheduler that publishes due jobs.

    It publishes each job's due runs to their Celery queues. Run exactly one: a second one
    started by mistake stands by, publishing nothing, and takes over if the first stops.
    """
    from opsyard.jobs.celery_app import CeleryDispatcher, make_celery
    from opsyard.jobs.scheduler import Scheduler

    settings = load_settings()
    if not settings.broker_url:
        raise OpsyardError(errors.NO_BROKER)
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    stop = threading.Event()

    def stop_on(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    with open_portal() as ctx:
        app = make_celery(settings)
        loop = Scheduler(
            ctx=ctx,
            catalogue=load_catalogue(ctx.registry),
            dispatcher=CeleryDispatcher(app, settings),
            locations=service.fan_out_locations(settings),
            holder=runner.worker_name("scheduler"),
        )
        click.echo(f"scheduler {loop.holder} publishing {len(loop.catalogue)} jobs")
        loop.run(stop)


COMMANDS: list[click.Command] = [jobs, worker, scheduler]
