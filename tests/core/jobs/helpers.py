"""Small builders shared by the jobs tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.extension import JobContext, JobSpec
from opsyard.jobs import service
from opsyard.jobs.catalogue import Catalogue, build_catalogue
from opsyard.jobs.models import JobRun, Trigger

PLUGIN = "tj"  # jobs declared by the tests themselves are named tj.<something>
SLOT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def spec(name: str, run: Callable[[JobContext], None], **kwargs: object) -> JobSpec:
    kwargs.setdefault("interval_seconds", 60)
    return JobSpec(name=f"{PLUGIN}.{name}", run=run, **kwargs)  # type: ignore[arg-type]


def catalogue_of(*specs: JobSpec, plugin: str = PLUGIN) -> Catalogue:
    built = build_catalogue((plugin, s) for s in specs)
    assert not built.rejected, built.rejected
    return built


def queue(
    ctx: PortalContext,
    catalogue: Catalogue,
    name: str,
    *,
    slot: datetime = SLOT,
    team: str = "",
    location: str = "",
    trigger: Trigger = Trigger.SCHEDULE,
) -> JobRun:
    job = catalogue.get(name)
    assert job is not None, name
    with session_scope(ctx.sessions) as session:
        run = service.queue_run(
            session,
            target=service.Target(job, team, location),
            slot=slot,
            due_at=slot,
            queued_by="test",
            trigger=trigger,
        )
    assert run is not None
    return run


def runs(ctx: PortalContext, job: str | None = None) -> list[JobRun]:
    with session_scope(ctx.sessions) as session:
        query = select(JobRun).order_by(JobRun.id)
        if job is not None:
            query = query.where(JobRun.job == job)
        return list(session.scalars(query))


def fetch(ctx: PortalContext, run_id: int) -> JobRun:
    with session_scope(ctx.sessions) as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        return run
