"""The run job and the location's runner: claims ahead of the next tick, each check started
at its own slot (not at the tick), runs stored in batches, storing failures reported by the
next job run with the rows left claimed, and no claiming while the runner is backed up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.extension import JobContext
from opsyard_synthetics import errors, jobs, location_runner, service, slots
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Check, Run, Schedule
from tests.conftest import World
from tests.plugins.synthetics.target import LoopbackTarget

INTERVAL = 60


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


def add_check(world: World, name: str, url: str, **step: Any) -> Check:
    document = {
        "name": name,
        "kind": "http",
        "interval_seconds": INTERVAL,
        "locations": ["eu"],
        "steps": [{"url": url, "assertions": ["status == 200"], **step}],
    }
    with session_scope(world.ctx.sessions) as session:
        return service.create_check(
            session,
            portal=world.ctx,
            team=session.merge(world.teams["alpha"]),
            definition=CheckDefinition.model_validate(document),
            actor=None,
            now=datetime.now(UTC),
        )


def due_at(world: World, check: Check, slot: datetime) -> None:
    """Move the check's grid so that its slot at eu is `slot` (offsets are a hash of the
    name; a test cannot wait up to a minute for one)."""
    offset = (slot - slots.EPOCH).total_seconds() % INTERVAL
    with session_scope(world.ctx.sessions) as session:
        session.execute(update(Check).where(Check.id == check.id).values(offset_seconds=offset))
        session.execute(
            update(Schedule).where(Schedule.check_id == check.id).values(next_slot_at=slot)
        )


def stored_runs(world: World) -> list[Run]:
    with session_scope(world.ctx.sessions) as session:
        return list(session.scalars(select(Run).order_by(Run.slot_at)))


def tick(world: World) -> None:
    jobs.run_checks(JobContext(at=datetime.now(UTC), portal=world.ctx, location="eu"))


def test_each_check_starts_at_its_own_slot_not_at_the_tick(
    syn_world: World, target: LoopbackTarget
) -> None:
    now = datetime.now(UTC)
    # Slots spread over the next two seconds; one check is 20 s late (a worker was away).
    planned = [now + timedelta(milliseconds=400 + 300 * n) for n in range(6)]
    checks = [add_check(syn_world, f"check-{n}", target.url("/")) for n in range(6)]
    for check, slot in zip(checks, planned, strict=True):
        due_at(syn_world, check, slot)
    late = add_check(syn_world, "late", target.url("/"))
    due_at(syn_world, late, now - timedelta(seconds=20))
    beyond = add_check(syn_world, "beyond", target.url("/"))
    due_at(syn_world, beyond, now + jobs.CLAIM_AHEAD + timedelta(seconds=5))

    tick(syn_world)
    runner = location_runner.runner_for(syn_world.ctx, "eu")
    assert runner.pending == 7  # the check due after the next tick is left for it
    assert runner.wait_idle(timeout=15)

    runs = {run.check_id: run for run in stored_runs(syn_world)}
    assert set(runs) == {check.id for check in checks} | {late.id}
    for check, slot in zip(checks, planned, strict=True):
        run = runs[check.id]
        assert run.slot_at == slot and run.outcome == "ok"
        # Started at its slot, not when the job ran: neither early nor a tick late.
        assert 0 <= run.lag_ms < 1000
    assert runs[late.id].lag_ms >= 20_000
    with session_scope(syn_world.ctx.sessions) as session:
        (row,) = session.scalars(select(Schedule).where(Schedule.check_id == checks[0].id))
        assert row.next_slot_at == planned[0] + timedelta(seconds=INTERVAL)
        assert row.claimed_by is None


def test_a_second_tick_does_not_claim_what_the_first_handed_over(
    syn_world: World, target: LoopbackTarget
) -> None:
    check = add_check(syn_world, "checkout", target.url("/"))
    due_at(syn_world, check, datetime.now(UTC) + timedelta(seconds=1))
    tick(syn_world)
    tick(syn_world)
    runner = location_runner.runner_for(syn_world.ctx, "eu")
    assert runner.pending == 1
    assert runner.wait_idle(timeout=15)
    assert len(stored_runs(syn_world)) == 1


def test_runs_that_cannot_be_stored_fail_the_next_tick_and_run_again_later(
    syn_world: World, target: LoopbackTarget
) -> None:
    check = add_check(syn_world, "checkout", target.url("/"))
    due_at(syn_world, check, datetime.now(UTC) + timedelta(milliseconds=300))
    # The runs table goes away under the runner: a real failure of the database it writes.
    with syn_world.ctx.engine.begin() as connection:
        connection.execute(text("ALTER TABLE synthetics_runs RENAME TO synthetics_runs_away"))
    try:
        tick(syn_world)
        runner = location_runner.runner_for(syn_world.ctx, "eu")
        assert runner.wait_idle(timeout=15)
        with pytest.raises(OpsyardError) as raised:
            tick(syn_world)
        assert raised.value.error is errors.RUNS_NOT_STORED
        assert "1 runs at eu could not be stored" in str(raised.value.detail)
    finally:
        with syn_world.ctx.engine.begin() as connection:
            connection.execute(text("ALTER TABLE synthetics_runs_away RENAME TO synthetics_runs"))
    # The row stays claimed, so the run is not lost: it runs again when its claim ends.
    with session_scope(syn_world.ctx.sessions) as session:
        (row,) = session.scalars(select(Schedule).where(Schedule.check_id == check.id))
        assert row.claimed_by is not None and row.claimed_until is not None
        assert row.claimed_until > datetime.now(UTC)
    tick(syn_world)  # the failure was reported once
    assert stored_runs(syn_world) == []


def test_a_backed_up_runner_claims_nothing_more(
    syn_world: World, target: LoopbackTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = add_check(syn_world, "checkout", target.url("/"))
    due_at(syn_world, check, datetime.now(UTC))
    monkeypatch.setattr(location_runner, "MAX_PENDING", 0)
    tick(syn_world)
    with session_scope(syn_world.ctx.sessions) as session:
        (row,) = session.scalars(select(Schedule).where(Schedule.check_id == check.id))
        assert row.claimed_by is None
