"""The scheduler: slots queued once, downtime caught up once, one leader, per-team and
per-location targets; and the embedded backend running for real inside the app."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from opsyard.app import create_app
from opsyard.context import PortalContext, build_context
from opsyard.db.engine import session_scope
from opsyard.extension import JobContext, JobSpec
from opsyard.jobs import errors
from opsyard.jobs.catalogue import Catalogue, Job
from opsyard.jobs.embedded import EmbeddedScheduler
from opsyard.jobs.models import JobRun, Outcome
from opsyard.jobs.scheduler import REFRESH_SECONDS, Scheduler
from opsyard.teams import service as teams
from tests.conftest import World
from tests.core.jobs.helpers import catalogue_of, runs, spec


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Collected:
    """A backend that only remembers what it was handed."""

    runs: list[JobRun] = field(default_factory=list)

    def dispatch(self, run: JobRun, job: Job) -> None:
        self.runs.append(run)

    def slots(self) -> list[tuple[str, str, str, datetime]]:
        return [(r.job, r.team, r.location, r.scheduled_for) for r in self.runs]


def scheduler(
    ctx: PortalContext,
    catalogue: Catalogue,
    clock: Clock,
    *,
    holder: str = "s1",
    locations: list[str] | None = None,
) -> tuple[Scheduler, Collected]:
    backend = Collected()
    made = Scheduler(
        ctx=ctx,
        catalogue=catalogue,
        dispatcher=backend,
        locations=locations or ["default"],
        holder=holder,
        clock=clock,
    )
    return made, backend


def noop(_: JobContext) -> None:
    pass


def test_a_new_job_first_runs_at_its_next_slot_then_once_per_slot(ctx: PortalContext) -> None:
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(ctx, catalogue_of(spec("minutely", noop)), clock)
    sleep = loop.step()
    assert backend.runs == []
    assert 0 < sleep <= 30
    clock.now = at("2026-03-01T09:01:00")
    loop.step()
    clock.advance(20)
    loop.step()
    clock.now = at("2026-03-01T09:02:00.5")
    loop.step()
    assert [r.scheduled_for for r in backend.runs] == [
        at("2026-03-01T09:01:00"),
        at("2026-03-01T09:02:00"),
    ]
    assert all(r.outcome == Outcome.QUEUED and r.queued_by == "s1" for r in backend.runs)


def test_after_downtime_a_restarted_scheduler_runs_each_job_once(ctx: PortalContext) -> None:
    catalogue = catalogue_of(
        spec("minutely", noop), spec("daily", noop, interval_seconds=None, cron="0 6 * * *")
    )
    clock = Clock(at("2026-03-01T05:59:30"))
    first, _ = scheduler(ctx, catalogue, clock)
    first.step()
    clock.now = at("2026-03-01T06:00:00")
    first.step()
    # Down for three days and a bit; a new process starts.
    clock.now = at("2026-03-04T10:00:30")
    restarted, backend = scheduler(ctx, catalogue, clock, holder="s2")
    restarted.step()
    restarted.step()
    assert sorted(backend.slots()) == [
        ("tj.daily", "", "", at("2026-03-04T06:00:00")),
        ("tj.minutely", "", "", at("2026-03-04T10:00:00")),
    ]


def test_a_scheduler_that_stalled_runs_the_latest_slot_only(ctx: PortalContext) -> None:
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(ctx, catalogue_of(spec("minutely", noop)), clock)
    loop.step()
    clock.now = at("2026-03-01T09:10:10")  # the machine slept
    loop.step()
    loop.step()
    assert [r.scheduled_for for r in backend.runs] == [at("2026-03-01T09:10:00")]


def test_jitter_delays_a_run_within_its_window(ctx: PortalContext) -> None:
    job = spec("jittery", noop, interval_seconds=60, jitter_seconds=50)
    catalogue = catalogue_of(job)
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(ctx, catalogue, clock)
    loop.step()
    offset = catalogue.jobs["tj.jittery"].schedule.jitter("tj.jittery||", at("2026-03-01T09:01:00"))
    clock.now = at("2026-03-01T09:01:00") + offset - timedelta(milliseconds=1)
    loop.step()
    assert backend.runs == []
    clock.advance(0.002)
    loop.step()
    [run] = backend.runs
    assert run.scheduled_for == at("2026-03-01T09:01:00")  # the job still runs as of its slot
    assert run.due_at == at("2026-03-01T09:01:00") + offset


def test_a_second_scheduler_stands_by_and_takes_over_when_the_first_resigns(
    ctx: PortalContext,
) -> None:
    catalogue = catalogue_of(spec("minutely", noop))
    clock = Clock(at("2026-03-01T09:00:30"))
    first, first_backend = scheduler(ctx, catalogue, clock, holder="s1")
    other = build_context(ctx.settings, registry=ctx.registry)
    second, second_backend = scheduler(other, catalogue, clock, holder="s2")
    for _ in range(4):
        first.step()
        second.step()
        clock.advance(60)
    assert first.is_leader and not second.is_leader
    assert len(first_backend.runs) == 3 and second_backend.runs == []
    first.resign()
    second.step()
    assert second.is_leader
    clock.advance(30)
    second.step()
    other.engine.dispose()
    # It carried on from the last slot the first one queued: nothing twice, nothing lost.
    slots = [r.scheduled_for for r in first_backend.runs + second_backend.runs]
    assert slots == [at("2026-03-01T09:01:00") + timedelta(minutes=i) for i in range(5)]


def test_per_team_jobs_run_for_teams_that_enabled_the_plugin(world: World) -> None:
    ctx = world.ctx
    job = JobSpec(name="fixture.per_team", run=noop, interval_seconds=60, per_team=True)
    catalogue = catalogue_of(job, plugin="fixture")
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(ctx, catalogue, clock)
    loop.step()
    clock.now = at("2026-03-01T09:01:00")
    loop.step()
    assert sorted(r.team for r in backend.runs) == ["alpha", "beta"]
    with session_scope(ctx.sessions) as session:
        team = teams.require_by_slug(session, "beta")
        teams.disable_plugin(session, team=team, plugin="fixture", actor=None)
    clock.advance(REFRESH_SECONDS)  # the next look at teams and plugins
    loop.step()
    clock.now = at("2026-03-01T09:02:00")
    loop.step()
    assert sorted(r.team for r in backend.runs) == ["alpha", "alpha", "beta"]


def test_core_per_team_jobs_run_for_every_team(world: World) -> None:
    job = JobSpec(name="core.per_team", run=noop, interval_seconds=60, per_team=True)
    catalogue = catalogue_of(job, plugin="core.tests")
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(world.ctx, catalogue, clock)
    loop.step()
    clock.now = at("2026-03-01T09:01:00")
    loop.step()
    assert sorted(r.team for r in backend.runs) == ["alpha", "beta"]


def test_per_location_jobs_fan_out_to_each_locations_queue(ctx: PortalContext) -> None:
    catalogue = catalogue_of(spec("probe", noop, per_location=True))
    clock = Clock(at("2026-03-01T09:00:30"))
    loop, backend = scheduler(ctx, catalogue, clock, locations=["eu-west", "us-east"])
    loop.step()
    clock.now = at("2026-03-01T09:01:00")
    loop.step()
    assert sorted((r.location, r.queue) for r in backend.runs) == [
        ("eu-west", "loc.eu-west"),
        ("us-east", "loc.us-east"),
    ]
    assert {r.scheduled_for for r in backend.runs} == {at("2026-03-01T09:01:00")}


def test_the_embedded_scheduler_survives_failing_jobs_and_never_overlaps(
    ctx: PortalContext,
) -> None:
    counted: list[datetime] = []
    running = [0]
    most = [0]
    lock = threading.Lock()

    def slow(_: JobContext) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(2.2)
        with lock:
            running[0] -= 1

    def boom(_: JobContext) -> None:
        raise RuntimeError("boom")

    catalogue = catalogue_of(
        spec("count", lambda c: counted.append(c.at), interval_seconds=1),
        spec("boom", boom, interval_seconds=1),
        spec("slow", slow, interval_seconds=1, time_limit_seconds=10),
    )

    def seen_enough() -> bool:
        """Three failed slots of boom and three counted, and the slow job both succeeded and
        was skipped for overlapping itself: what the assertions below are about."""
        by_job: dict[str, list[JobRun]] = {}
        for run in runs(ctx):
            by_job.setdefault(run.job, []).append(run)
        slow_runs = by_job.get("tj.slow", [])
        return (
            sum(r.outcome == Outcome.FAILED for r in by_job.get("tj.boom", [])) >= 3
            and len(counted) >= 3
            and any(r.outcome == Outcome.SUCCEEDED for r in slow_runs)
            and any(r.error_code == errors.OVERLAP for r in slow_runs)
        )

    embedded = EmbeddedScheduler(ctx, catalogue=catalogue, threads=4)
    embedded.start()
    # Watched until it has happened (2 to 3 s) rather than for a fixed time; stopping then,
    # between two runs of the slow job, also spares waiting for one in flight.
    deadline = time.monotonic() + 30
    while not seen_enough() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert embedded.is_alive
    embedded.stop(timeout=5)
    assert not embedded.is_alive
    recorded = runs(ctx)
    by_job: dict[str, list[JobRun]] = {}
    for run in recorded:
        by_job.setdefault(run.job, []).append(run)
    # The failing job failed every slot, recorded, and the others kept running beside it.
    assert len(by_job["tj.boom"]) >= 3
    assert {(r.outcome, r.error_code) for r in by_job["tj.boom"]} == {
        (Outcome.FAILED.value, "internal.unexpected")
    }
    assert len(counted) >= 3 and len(by_job["tj.count"]) == len(counted)
    assert all(r.outcome == Outcome.SUCCEEDED for r in by_job["tj.count"])
    # The slow job overlapped its own schedule: later slots were skipped, never run beside it.
    assert most[0] == 1
    outcomes = [r.outcome for r in by_job["tj.slow"]]
    assert Outcome.SUCCEEDED in outcomes
    assert any(r.error_code == errors.OVERLAP for r in by_job["tj.slow"])
    # Every run was recorded from start to end (none left queued or running).
    assert all(r.outcome not in (Outcome.QUEUED, Outcome.RUNNING) for r in recorded)
    assert all(r.finished_at is not None for r in recorded)


def test_the_app_runs_the_embedded_scheduler_only_without_a_broker(ctx: PortalContext) -> None:
    def scheduler_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "opsyard-scheduler"]

    embedded = ctx.settings.model_copy(update={"embedded_scheduler": True})
    app = create_app(embedded, context=build_context(embedded, registry=ctx.registry))
    with TestClient(app):
        assert len(scheduler_threads()) == 1
    assert scheduler_threads() == []
    brokered = embedded.model_copy(update={"broker_url": "redis://127.0.0.1:6379/15"})
    app = create_app(brokered, context=build_context(brokered, registry=ctx.registry))
    with TestClient(app):
        assert scheduler_threads() == []
