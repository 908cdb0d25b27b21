"""Running due checks per location: one run per slot and location against the loopback
target, stored with phases, assertions and a redacted excerpt; missed slots reported, not
piled up; concurrent runners never run a check twice; the private-address guard."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_synthetics import claims, execution, service
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Check, LocationState, Run, Schedule
from opsyard_synthetics.redaction import REDACTED
from tests.conftest import World
from tests.plugins.synthetics.target import LoopbackTarget

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


def add_check(world: World, team: str = "alpha", *, created: datetime = T0, **fields: Any) -> Check:
    document = {"name": "checkout", "kind": "http", "interval_seconds": 60, **fields}
    with session_scope(world.ctx.sessions) as session:
        return service.create_check(
            session,
            portal=world.ctx,
            team=session.merge(world.teams[team]),
            definition=CheckDefinition.model_validate(document),
            actor=None,
            now=created,
        )


def http(url: str, *assertions: str, **step: Any) -> dict[str, Any]:
    return {"steps": [{"url": url, "assertions": list(assertions), **step}]}


def schedules(world: World, check_id: int) -> dict[str, Schedule]:
    with session_scope(world.ctx.sessions) as session:
        rows = session.scalars(select(Schedule).where(Schedule.check_id == check_id))
        return {row.location: row for row in rows}


def runs(world: World, check_id: int) -> list[Run]:
    with session_scope(world.ctx.sessions) as session:
        query = select(Run).where(Run.check_id == check_id).order_by(Run.location, Run.id)
        return list(session.scalars(query))


def first_slot(world: World, check: Check, location: str) -> datetime:
    return schedules(world, check.id)[location].next_slot_at


def test_a_due_check_runs_once_per_slot_from_each_location(
    syn_world: World, target: LoopbackTarget
) -> None:
    target.set_location("eu", status=200, latency_ms=30)
    target.set_location("us", status=503)
    check = add_check(syn_world, locations=["eu", "us"], **http(target.url("/"), "status == 200"))
    slot = first_slot(syn_world, check, "eu")
    assert T0 < slot <= T0 + timedelta(seconds=60)
    portal = syn_world.ctx

    assert execution.run_due(portal, location="eu", at=slot - timedelta(seconds=1), limit=10) == 0
    at = slot + timedelta(seconds=2)
    assert execution.run_due(portal, location="eu", at=at, limit=10) == 1
    assert execution.run_due(portal, location="eu", at=at, limit=10) == 0
    assert execution.run_due(portal, location="us", at=at, limit=10) == 1

    eu, us = runs(syn_world, check.id)
    assert (eu.location, eu.outcome, us.location, us.outcome) == ("eu", "ok", "us", "failing")
    assert us.reason and "503" in us.reason
    assert eu.slot_at == slot and eu.missed_slots == 0
    assert 2000 <= eu.lag_ms < 2000 + 5000
    (step,) = eu.steps
    assert step["status"] == 200 and step["outcome"] == "ok"
    assert set(step["timings"]) == {"dns_ms", "connect_ms", "tls_ms", "first_byte_ms", "total_ms"}
    assert step["timings"]["total_ms"] >= 30 and eu.duration_ms >= 30
    assert step["assertions"][0]["expression"] == "status == 200"
    assert step["assertions"][0]["passed"] is True
    assert step["excerpt"] == '{"status": "healthy", "service": "checkout"}'
    assert [seen.location for seen in target.state.seen] == ["eu", "us"]

    after = schedules(syn_world, check.id)
    assert after["eu"].next_slot_at == slot + timedelta(seconds=60)
    assert after["eu"].last_slot_at == slot and after["eu"].claimed_by is None
    # The outcome reached alerting in the same transaction as the run.
    with session_scope(portal.sessions) as session:
        state = session.get(LocationState, (check.id, "us"))
        assert state is not None and state.failures == 1


def test_a_missed_slot_is_reported_not_piled_up(syn_world: World, target: LoopbackTarget) -> None:
    check = add_check(syn_world, locations=["eu"], **http(target.url("/")))
    slot = first_slot(syn_world, check, "eu")
    portal = syn_world.ctx
    assert execution.run_due(portal, location="eu", at=slot, limit=10) == 1
    # The worker was away for three slots and a bit: one run, for the latest slot.
    late = slot + timedelta(seconds=3 * 60 + 5)
    assert execution.run_due(portal, location="eu", at=late, limit=10) == 1
    assert execution.run_due(portal, location="eu", at=late, limit=10) == 0
    first, second = runs(syn_world, check.id)
    assert (first.missed_slots, first.lag_ms < 5000) == (0, True)
    assert second.slot_at == slot + timedelta(seconds=180)
    assert second.missed_slots == 2
    assert 5000 <= second.lag_ms < 10000
    assert len(target.state.seen) == 2
    assert schedules(syn_world, check.id)["eu"].next_slot_at == slot + timedelta(seconds=240)


def test_runs_keep_the_teams_secrets_out(syn_world: World, target: LoopbackTarget) -> None:
    secret = "sup3r-s3cret-t0ken-value"
    with session_scope(syn_world.ctx.sessions) as session:
        alpha = session.merge(syn_world.teams["alpha"])
        service.set_secret(session, team=alpha, name="API_TOKEN", value=secret, actor=None)
    check = add_check(
        syn_world,
        locations=["eu"],
        secrets=["API_TOKEN"],
        **http(
            target.url("/echo"),
            'json("$.headers.x-api-key") == "wrong"',
            headers={"X-Api-Key": "{{ secrets.API_TOKEN }}"},
        ),
    )
    slot = first_slot(syn_world, check, "eu")
    assert execution.run_due(syn_world.ctx, location="eu", at=slot, limit=10) == 1
    (run,) = runs(syn_world, check.id)
    # The target did receive the secret, and echoed it back; the stored run never has it.
    assert target.state.seen[0].headers["x-api-key"] == secret
    assert run.outcome == "failing"
    stored = json.dumps(run.steps) + run.reason
    assert secret not in stored
    assert REDACTED in run.steps[0]["excerpt"]
    assert run.steps[0]["assertions"][0]["actual"] == REDACTED


def test_disabled_checks_and_switched_off_teams_are_skipped(
    syn_world: World, target: LoopbackTarget
) -> None:
    off = add_check(syn_world, "alpha", name="paused", locations=["eu"], **http(target.url("/")))
    beta = add_check(syn_world, "beta", locations=["eu"], **http(target.url("/")))
    with session_scope(syn_world.ctx.sessions) as session:
        row = session.get(Check, off.id)
        assert row is not None
        row.enabled = False
        team = session.merge(syn_world.teams["beta"])
        teams.disable_plugin(session, team=team, plugin="synthetics", actor=None)
    at = max(first_slot(syn_world, off, "eu"), first_slot(syn_world, beta, "eu"))
    assert execution.run_due(syn_world.ctx, location="eu", at=at, limit=10) == 0
    assert target.state.seen == []
    # They move on to their next slot, so switching them back on reports no missed slots.
    for check in (off, beta):
        moved = schedules(syn_world, check.id)["eu"]
        assert moved.next_slot_at > at and moved.claimed_by is None


def test_private_targets_are_refused_unless_allowed(
    syn_world: World, target: LoopbackTarget
) -> None:
    strict = PortalContext(
        settings=syn_world.ctx.settings.model_copy(update={"allow_private_targets": False}),
        engine=syn_world.ctx.engine,
        sessions=syn_world.ctx.sessions,
        registry=syn_world.ctx.registry,
        metrics=syn_world.ctx.metrics,
    )
    check = add_check(syn_world, locations=["eu"], **http(target.url("/")))
    slot = first_slot(syn_world, check, "eu")
    assert execution.run_due(strict, location="eu", at=slot, limit=10) == 1
    (run,) = runs(syn_world, check.id)
    assert run.outcome == "error"
    assert "may not probe" in run.reason
    assert target.state.seen == []
    assert execution.public_address("8.8.8.8")
    assert not execution.public_address("10.1.2.3")
    assert not execution.public_address("::1")


def test_a_run_ends_at_its_checks_own_timeout(syn_world: World, target: LoopbackTarget) -> None:
    target.set_location("eu", latency_ms=2000)
    check = add_check(syn_world, locations=["eu"], **http(target.url("/"), timeout_s=0.3))
    slot = first_slot(syn_world, check, "eu")
    assert execution.run_due(syn_world.ctx, location="eu", at=slot, limit=10) == 1
    (run,) = runs(syn_world, check.id)
    assert run.outcome == "failing"
    assert "0.3" in run.reason and "time" in run.reason
    assert run.duration_ms < 1500


def test_a_run_longer_than_the_job_tick_is_not_cut_short(
    syn_world: World, target: LoopbackTarget
) -> None:
    # The run's budget comes from the check's own timeouts, not from how often the run job
    # ticks: an answer after 1.5 s passes a check that allows 5 s.
    target.set_location("eu", latency_ms=1500)
    check = add_check(syn_world, locations=["eu"], **http(target.url("/"), timeout_s=5))
    slot = first_slot(syn_world, check, "eu")
    assert execution.run_due(syn_world.ctx, location="eu", at=slot, limit=10) == 1
    (run,) = runs(syn_world, check.id)
    assert (run.outcome, run.duration_ms >= 1500) == ("ok", True)


@pytest.mark.parametrize(
    ("document", "budget"),
    [
        ({"kind": "http", "steps": [{"url": "http://x/"}]}, 10 + claims.RUN_SLACK_SECONDS),
        (
            {
                "kind": "flow",
                "steps": [
                    {
                        "name": "token",
                        "url": "http://x/",
                        "timeout_s": 3,
                        "auth": {
                            "type": "oauth2_client_credentials",
                            "token_url": "http://x/token",
                            "client_id": "a",
                            "client_secret": "b",
                        },
                    },
                    {"name": "call", "url": "http://x/2", "timeout_s": 4},
                ],
            },
            3 * 2 + 4 + claims.RUN_SLACK_SECONDS,
        ),
        ({"kind": "dns", "dns": {"name": "example.com"}}, 5 + claims.RUN_SLACK_SECONDS),
        (
            {
                "kind": "flow",
                "steps": [
                    {"name": f"s{n}", "url": f"http://x/{n}", "timeout_s": 120} for n in range(9)
                ],
            },
            claims.LONGEST_RUN_SECONDS,
        ),
    ],
)
def test_a_runs_budget_is_the_sum_of_its_timeouts(document: dict[str, Any], budget: float) -> None:
    definition = CheckDefinition.model_validate({"name": "budget", **document})
    assert claims.run_budget_seconds(definition) == budget


def test_two_runners_at_once_run_each_check_once(syn_world: World, target: LoopbackTarget) -> None:
    target.set_location("eu", latency_ms=50)
    checks = [
        add_check(syn_world, name=f"check-{n}", locations=["eu"], **http(target.url("/")))
        for n in range(6)
    ]
    at = max(first_slot(syn_world, check, "eu") for check in checks)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def runner() -> None:
        barrier.wait()
        counts.append(execution.run_due(syn_world.ctx, location="eu", at=at, limit=10))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) == 6
    for check in checks:
        assert len(runs(syn_world, check.id)) == 1
    assert len(target.state.seen) == 6


def test_schedules_follow_the_checks_locations(syn_world: World) -> None:
    everywhere = add_check(syn_world, kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    assert set(schedules(syn_world, everywhere.id)) == {syn_world.ctx.settings.location}
    with session_scope(syn_world.ctx.sessions) as session:
        row = session.get(Check, everywhere.id)
        assert row is not None
        execution.sync_schedules(session, check=row, locations=["eu", "us", "ap"], now=T0)
    assert set(schedules(syn_world, everywhere.id)) == {"eu", "us", "ap"}
    with session_scope(syn_world.ctx.sessions) as session:
        row = session.get(Check, everywhere.id)
        assert row is not None
        row.locations = ["us"]
        execution.sync_schedules(session, check=row, locations=["eu", "us", "ap"], now=T0)
        # A location reporting for the first time gets only the checks that run everywhere.
        assert execution.cover_location(session, location="sa", now=T0) == 0
    (us,) = schedules(syn_world, everywhere.id).values()
    assert us.location == "us"
    assert us.next_slot_at == first_slot(syn_world, everywhere, "us")


def test_a_new_location_picks_up_checks_that_run_everywhere(syn_world: World) -> None:
    everywhere = add_check(syn_world, kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    pinned = add_check(
        syn_world, name="pinned", kind="tcp", tcp={"host": "127.0.0.1", "port": 9}, locations=["eu"]
    )
    with session_scope(syn_world.ctx.sessions) as session:
        assert execution.cover_location(session, location="sa", now=T0) == 1
        assert execution.cover_location(session, location="sa", now=T0) == 0
    assert "sa" in schedules(syn_world, everywhere.id)
    assert set(schedules(syn_world, pinned.id)) == {"eu"}
    assert isinstance(syn_world.teams["alpha"], Team)
