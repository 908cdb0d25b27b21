"""The runner: every run recorded, failures coded, time limits enforced, no overlap, and
redelivered runs completed once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from opsyard import errors as core_errors
from opsyard.context import PortalContext, build_context
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.extension import JobContext, JobSpec
from opsyard.jobs import errors, leases, runner
from opsyard.jobs.leases import LeaseKey
from opsyard.jobs.models import JobRun, Outcome
from opsyard.teams import service as teams
from tests.conftest import World
from tests.core.jobs.helpers import SLOT, catalogue_of, fetch, queue, runs, spec

WORKER = "test@here/1"


def test_a_successful_run_is_recorded_with_where_and_when(ctx: PortalContext) -> None:
    seen: list[JobContext] = []
    catalogue = catalogue_of(spec("ok", seen.append))
    queued = queue(ctx, catalogue, "tj.ok")
    assert queued.outcome == Outcome.QUEUED
    ended = runner.execute(ctx, catalogue, run_id=queued.id, worker=WORKER)
    assert ended is not None
    assert ended.outcome == Outcome.SUCCEEDED
    assert ended.started_at is not None and ended.finished_at is not None
    assert ended.started_at <= ended.finished_at
    assert ended.scheduled_for == SLOT
    assert (ended.worker, ended.worker_location, ended.attempts) == (WORKER, "default", 1)
    assert ended.error_code is None
    # The job saw the slot as its instant, and the portal.
    assert seen[0].at == SLOT and seen[0].portal is ctx and seen[0].team_slug is None


def test_an_opsyard_error_records_its_code_and_anything_else_internal_unexpected(
    ctx: PortalContext,
) -> None:
    def refuse(_: JobContext) -> None:
        raise OpsyardError(core_errors.UNAVAILABLE, "the upstream is down")

    def crash(_: JobContext) -> None:
        raise KeyError("boom")

    catalogue = catalogue_of(spec("refuse", refuse), spec("crash", crash))
    refused = runner.execute(
        ctx, catalogue, run_id=queue(ctx, catalogue, "tj.refuse").id, worker=WORKER
    )
    crashed = runner.execute(
        ctx, catalogue, run_id=queue(ctx, catalogue, "tj.crash").id, worker=WORKER
    )
    assert refused is not None and crashed is not None
    assert (refused.outcome, refused.error_code) == (Outcome.FAILED, "service.unavailable")
    assert refused.error_detail == "the upstream is down"
    assert (crashed.outcome, crashed.error_code) == (Outcome.FAILED, "internal.unexpected")
    assert crashed.error_detail == "KeyError: 'boom'"


def test_the_time_limit_stops_a_job(ctx: PortalContext) -> None:
    def forever(_: JobContext) -> None:
        try:
            while True:
                time.sleep(0.02)
        except Exception:  # a job's broad handler must not swallow the time limit
            pass

    catalogue = catalogue_of(spec("forever", forever, time_limit_seconds=1))
    started = time.monotonic()
    ended = runner.execute(
        ctx, catalogue, run_id=queue(ctx, catalogue, "tj.forever").id, worker=WORKER
    )
    assert time.monotonic() - started < 3
    assert ended is not None
    assert (ended.outcome, ended.error_code) == (Outcome.TIMED_OUT, errors.TIME_LIMIT)
    # The lease is free again for the next slot.
    with session_scope(ctx.sessions) as session:
        assert not leases.is_held(leases.current(session, key=LeaseKey("tj.forever")), now=utcnow())


def test_a_job_never_overlaps_itself_even_across_processes(
    ctx: PortalContext,
) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow(context: JobContext) -> None:
        calls.append(context.at.isoformat())
        entered.set()
        release.wait(10)

    catalogue = catalogue_of(spec("slow", slow))
    first = queue(ctx, catalogue, "tj.slow", slot=SLOT)
    # A second "process": its own engine and sessions on the same database.
    other = build_context(ctx.settings, registry=ctx.registry)
    results: dict[str, JobRun | None] = {}
    thread = threading.Thread(
        target=lambda: results.update(
            first=runner.execute(ctx, catalogue, run_id=first.id, worker="a@x/1")
        )
    )
    thread.start()
    assert entered.wait(10)
    second = queue(ctx, catalogue, "tj.slow", slot=SLOT + timedelta(minutes=1))
    results["second"] = runner.execute(other, catalogue, run_id=second.id, worker="b@x/2")
    release.set()
    thread.join(10)
    other.engine.dispose()
    assert len(calls) == 1
    assert results["first"] is not None and results["first"].outcome == Outcome.SUCCEEDED
    skipped = results["second"]
    assert skipped is not None
    assert (skipped.outcome, skipped.error_code) == (Outcome.SKIPPED, errors.OVERLAP)
    assert skipped.started_at is None and skipped.finished_at is not None


def test_a_run_delivered_again_after_it_succeeded_is_skipped(ctx: PortalContext) -> None:
    calls: list[JobContext] = []
    catalogue = catalogue_of(spec("once", calls.append))
    queued = queue(ctx, catalogue, "tj.once")
    first = runner.execute(ctx, catalogue, run_id=queued.id, worker=WORKER)
    again = runner.execute(ctx, catalogue, run_id=queued.id, worker="other@x/2")
    assert len(calls) == 1
    assert first is not None and again is not None
    assert again.outcome == Outcome.SUCCEEDED and again.worker == WORKER and again.attempts == 1


def test_a_message_for_another_run_is_dropped(ctx: PortalContext) -> None:
    calls: list[JobContext] = []
    catalogue = catalogue_of(spec("once", calls.append))
    queued = queue(ctx, catalogue, "tj.once")
    stale = runner.execute(
        ctx, catalogue, run_id=queued.id, worker=WORKER, expect_job="tj.other", expect_at=SLOT
    )
    assert stale is None and calls == []
    assert runner.execute(ctx, catalogue, run_id=10_000, worker=WORKER) is None


def _hold_lease_for_dead_attempt(ctx: PortalContext, run: JobRun, *, expires_in: float) -> None:
    """What a worker killed mid-job leaves behind: its run running, its lease held."""
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        assert leases.acquire(
            session,
            key=LeaseKey(run.job),
            holder="dead@x/9#1",
            ttl=timedelta(seconds=expires_in),
            now=now,
            run_id=run.id,
        )
        row = session.get(JobRun, run.id)
        assert row is not None
        row.outcome, row.attempts, row.started_at, row.worker = Outcome.RUNNING, 1, now, "dead@x/9"


def test_a_redelivered_run_waits_for_its_dead_attempts_lease_then_completes_once(
    ctx: PortalContext,
) -> None:
    calls: list[JobContext] = []
    catalogue = catalogue_of(spec("once", calls.append))
    queued = queue(ctx, catalogue, "tj.once")
    # Timed from before the lease is taken: the lease runs 1 s from then, however long taking
    # it takes on a busy machine.
    started = time.monotonic()
    _hold_lease_for_dead_attempt(ctx, queued, expires_in=1.0)
    ended = runner.execute(ctx, catalogue, run_id=queued.id, worker="b@x/2")
    assert time.monotonic() - started >= 0.9  # it did not run beside the other attempt
    assert ended is not None
    assert (ended.outcome, ended.attempts, ended.worker) == (Outcome.SUCCEEDED, 2, "b@x/2")
    assert len(calls) == 1
    assert len(runs(ctx, "tj.once")) == 1


def test_taking_over_an_expired_lease_records_the_old_run_as_abandoned(
    ctx: PortalContext,
) -> None:
    catalogue = catalogue_of(spec("job", lambda _: None))
    stuck = queue(ctx, catalogue, "tj.job", slot=SLOT)
    _hold_lease_for_dead_attempt(ctx, stuck, expires_in=-1)
    later = queue(ctx, catalogue, "tj.job", slot=SLOT + timedelta(minutes=1))
    ended = runner.execute(ctx, catalogue, run_id=later.id, worker=WORKER)
    assert ended is not None and ended.outcome == Outcome.SUCCEEDED
    old = fetch(ctx, stuck.id)
    assert (old.outcome, old.error_code) == (Outcome.TIMED_OUT, errors.ABANDONED)


def test_the_sweep_records_abandoned_runs_and_a_redelivery_still_completes_them(
    ctx: PortalContext,
) -> None:
    calls: list[JobContext] = []
    catalogue = catalogue_of(spec("job", calls.append))
    stuck = queue(ctx, catalogue, "tj.job")
    _hold_lease_for_dead_attempt(ctx, stuck, expires_in=-1)
    assert runner.sweep_abandoned(ctx) == 1
    assert runner.sweep_abandoned(ctx) == 0
    assert fetch(ctx, stuck.id).error_code == errors.ABANDONED
    ended = runner.execute(ctx, catalogue, run_id=stuck.id, worker=WORKER)
    assert ended is not None and (ended.outcome, ended.attempts) == (Outcome.SUCCEEDED, 2)
    assert len(calls) == 1


def test_a_later_slot_supersedes_a_run_still_waiting(ctx: PortalContext) -> None:
    calls: list[JobContext] = []
    catalogue = catalogue_of(spec("job", calls.append))
    waiting = queue(ctx, catalogue, "tj.job", slot=SLOT)
    queue(ctx, catalogue, "tj.job", slot=SLOT + timedelta(minutes=1))
    superseded = fetch(ctx, waiting.id)
    assert (superseded.outcome, superseded.error_code) == (Outcome.SKIPPED, errors.SUPERSEDED)
    ended = runner.execute(ctx, catalogue, run_id=waiting.id, worker=WORKER)
    assert ended is not None and ended.outcome == Outcome.SKIPPED and calls == []


def test_a_slot_is_queued_once(ctx: PortalContext) -> None:
    from opsyard.jobs import service

    catalogue = catalogue_of(spec("job", lambda _: None))
    job = catalogue.get("tj.job")
    assert job is not None
    with session_scope(ctx.sessions) as session:
        target = service.Target(job)
        first = service.queue_run(session, target=target, slot=SLOT, due_at=SLOT, queued_by="a")
        again = service.queue_run(session, target=target, slot=SLOT, due_at=SLOT, queued_by="b")
    assert first is not None and again is None


def test_a_per_team_run_for_a_team_that_switched_the_plugin_off_is_skipped(
    world: World,
) -> None:
    ctx = world.ctx
    calls: list[JobContext] = []
    # Declared as the fixture plugin's, so it runs only where "fixture" is enabled.
    job = JobSpec(name="fixture.job", run=calls.append, interval_seconds=60, per_team=True)
    catalogue = catalogue_of(job, plugin="fixture")
    alpha = queue(ctx, catalogue, "fixture.job", team="alpha")
    beta = queue(ctx, catalogue, "fixture.job", team="beta")
    with session_scope(ctx.sessions) as session:
        team = teams.require_by_slug(session, "beta")
        teams.disable_plugin(session, team=team, plugin="fixture", actor=None)
    ran = runner.execute(ctx, catalogue, run_id=alpha.id, worker=WORKER)
    skipped = runner.execute(ctx, catalogue, run_id=beta.id, worker=WORKER)
    assert ran is not None and ran.outcome == Outcome.SUCCEEDED
    assert skipped is not None
    assert (skipped.outcome, skipped.error_code) == (Outcome.SKIPPED, errors.NOT_ENABLED)
    assert [c.team_slug for c in calls] == ["alpha"]


def test_an_unknown_job_fails_its_run(ctx: PortalContext) -> None:
    declared = catalogue_of(spec("gone", lambda _: None))
    queued = queue(ctx, declared, "tj.gone")
    ended = runner.execute(ctx, catalogue_of(), run_id=queued.id, worker=WORKER)
    assert ended is not None
    assert (ended.outcome, ended.error_code) == (Outcome.FAILED, errors.UNKNOWN_JOB.code)


def test_pruning_deletes_old_finished_runs_only(ctx: PortalContext) -> None:
    from opsyard.jobs.hooks import prune_runs

    catalogue = catalogue_of(spec("job", lambda _: None))
    old_done = queue(ctx, catalogue, "tj.job", slot=SLOT)
    runner.execute(ctx, catalogue, run_id=old_done.id, worker=WORKER)
    old_waiting = queue(ctx, catalogue, "tj.job", slot=SLOT + timedelta(minutes=1))
    recent = queue(ctx, catalogue, "tj.job", slot=SLOT + timedelta(minutes=2))
    with session_scope(ctx.sessions) as session:
        for run_id in (old_done.id, old_waiting.id):
            row = session.get(JobRun, run_id)
            assert row is not None
            row.queued_at = utcnow() - timedelta(days=ctx.settings.job_run_retention_days + 1)
        # Still queued, though old: only finished runs go.
        row = session.get(JobRun, old_waiting.id)
        assert row is not None
        row.outcome = Outcome.QUEUED
    prune_runs(JobContext(at=utcnow(), portal=ctx))
    assert [r.id for r in runs(ctx, "tj.job")] == [old_waiting.id, recent.id]
