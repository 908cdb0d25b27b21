"""Locations: the registry, heartbeats, the canary, and health judged from both, with the
location-unhealthy event emitted once per change; the plugin's jobs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from opsyard.db.engine import session_scope
from opsyard.events.models import StoredEvent
from opsyard.extension import JobContext
from opsyard.jobs.catalogue import load_catalogue
from opsyard_synthetics import events, jobs, locations
from opsyard_synthetics.models import Location, Schedule
from tests.conftest import World
from tests.plugins.synthetics.target import LoopbackTarget
from tests.plugins.synthetics.test_execution import T0, add_check

CANARY_ENV = "OPSYARD_SYNTHETICS_CANARY_URL"


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


@pytest.fixture
def canary(target: LoopbackTarget, monkeypatch: pytest.MonkeyPatch) -> LoopbackTarget:
    """The canary pointed at the loopback target, so a test decides whether it passes."""
    monkeypatch.setenv(CANARY_ENV, target.url("/health"))
    return target


def unhealthy_events(world: World) -> list[StoredEvent]:
    with session_scope(world.ctx.sessions) as session:
        query = select(StoredEvent).where(StoredEvent.name == events.LOCATION_UNHEALTHY)
        return list(session.scalars(query.order_by(StoredEvent.id)))


def location(world: World, name: str) -> Location:
    with session_scope(world.ctx.sessions) as session:
        row = session.get(Location, name)
        assert row is not None
        return row


def beat(world: World, name: str, at: datetime) -> None:
    with session_scope(world.ctx.sessions) as session:
        locations.record_heartbeat(session, location=name, by="host-1:42", at=at)


def test_the_registry_is_the_configured_locations_and_those_that_reported(
    syn_world: World,
) -> None:
    settings = syn_world.ctx.settings.model_copy(update={"locations": "eu, us"})
    with session_scope(syn_world.ctx.sessions) as session:
        assert locations.known(session, settings=settings) == ["eu", "us"]
        assert locations.known(session, settings=syn_world.ctx.settings) == ["default"]
    beat(syn_world, "ap", T0)
    with session_scope(syn_world.ctx.sessions) as session:
        assert locations.known(session, settings=settings) == ["ap", "eu", "us"]
    row = location(syn_world, "ap")
    assert (row.last_heartbeat_at, row.heartbeat_by, row.healthy) == (T0, "host-1:42", True)
    # A heartbeat arriving late does not move the last one back.
    beat(syn_world, "ap", T0 - timedelta(seconds=20))
    assert location(syn_world, "ap").last_heartbeat_at == T0


def test_a_silent_location_turns_unhealthy_once_and_recovers(syn_world: World) -> None:
    add_check(syn_world, locations=["eu", "us"], kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    add_check(syn_world, "beta", locations=["us"], kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    portal = syn_world.ctx
    beat(syn_world, "eu", T0)
    beat(syn_world, "us", T0)
    assert locations.update_health(portal, at=T0 + timedelta(seconds=60)) == []
    beat(syn_world, "us", T0 + timedelta(seconds=60))

    assert locations.update_health(portal, at=T0 + timedelta(seconds=100)) == ["eu"]
    assert locations.update_health(portal, at=T0 + timedelta(seconds=130)) == []
    eu = location(syn_world, "eu")
    assert eu.healthy is False
    assert eu.unhealthy_reason == "its workers have been silent for 100 s"
    (event,) = unhealthy_events(syn_world)
    # Only alpha has checks at eu; its event names them.
    assert event.payload["location"] == "eu" and event.payload["team"] == "alpha"
    assert event.payload["checks"] == ["checkout"]
    with session_scope(portal.sessions) as session:
        assert locations.healthy_locations(session, at=T0) >= {"us"}
        assert "eu" not in locations.healthy_locations(session, at=T0)

    beat(syn_world, "eu", T0 + timedelta(seconds=140))
    assert locations.update_health(portal, at=T0 + timedelta(seconds=150)) == []
    assert location(syn_world, "eu").healthy is True
    assert location(syn_world, "eu").unhealthy_reason is None
    with session_scope(portal.sessions) as session:
        assert "eu" in locations.healthy_locations(session, at=T0)
    assert len(unhealthy_events(syn_world)) == 1


def test_a_configured_location_that_never_reports_turns_unhealthy(syn_world: World) -> None:
    # The test settings configure only "default"; it is registered by the first health run.
    assert locations.update_health(syn_world.ctx, at=T0) == []
    assert locations.update_health(syn_world.ctx, at=T0 + timedelta(seconds=91)) == ["default"]
    reason = location(syn_world, "default").unhealthy_reason
    assert reason == "its workers have not reported since it was registered"


def test_a_failing_canary_makes_the_location_unhealthy(
    syn_world: World, canary: LoopbackTarget
) -> None:
    portal = syn_world.ctx
    add_check(syn_world, locations=["eu"], kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    canary.set_location("eu", status=200)
    locations.heartbeat(portal, location="eu", at=T0)
    row = location(syn_world, "eu")
    assert row.canary_ok and row.canary_checked_at == T0 and row.heartbeat_by
    assert locations.update_health(portal, at=T0 + timedelta(seconds=5)) == []

    canary.set_location("eu", status=500)
    locations.heartbeat(portal, location="eu", at=T0 + timedelta(seconds=30))
    row = location(syn_world, "eu")
    assert not row.canary_ok and row.canary_reason and "500" in row.canary_reason
    assert locations.update_health(portal, at=T0 + timedelta(seconds=35)) == ["eu"]
    (event,) = unhealthy_events(syn_world)
    assert "canary" in event.payload["reason"]
    assert [seen.location for seen in canary.state.seen] == ["eu", "eu"]

    canary.set_location("eu", status=200)
    locations.heartbeat(portal, location="eu", at=T0 + timedelta(seconds=60))
    assert locations.update_health(portal, at=T0 + timedelta(seconds=65)) == []
    assert location(syn_world, "eu").healthy is True


def test_a_tcp_canary_and_the_default_one(
    syn_world: World, target: LoopbackTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CANARY_ENV, f"tcp://127.0.0.1:{target.port}")
    assert locations.run_canary(syn_world.ctx, location="eu") == locations.CanaryResult(True, None)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv(CANARY_ENV, f"tcp://127.0.0.1:{port}")
    result = locations.run_canary(syn_world.ctx, location="eu")
    assert not result.ok and result.reason and result.reason.startswith("canary failing")
    monkeypatch.delenv(CANARY_ENV)
    definition = locations.canary_definition(syn_world.ctx)
    assert definition.steps[0].url == syn_world.ctx.settings.base_url + "/livez"


def test_a_new_location_starts_running_the_checks_that_run_everywhere(
    syn_world: World, canary: LoopbackTarget
) -> None:
    everywhere = add_check(syn_world, kind="tcp", tcp={"host": "127.0.0.1", "port": 9})
    locations.heartbeat(syn_world.ctx, location="sa", at=T0)
    with session_scope(syn_world.ctx.sessions) as session:
        query = select(Schedule.location).where(Schedule.check_id == everywhere.id)
        assert set(session.scalars(query)) == {"default", "sa"}


def test_the_jobs(syn_world: World, canary: LoopbackTarget) -> None:
    specs = {spec.name: spec for spec in jobs.JOBS}
    run, heartbeat = specs["synthetics.run"], specs["synthetics.heartbeat"]
    assert run.per_location and run.interval_seconds == 10
    assert run.time_limit_seconds < 10
    assert heartbeat.per_location and heartbeat.interval_seconds == 30
    assert not specs["synthetics.health"].per_location
    assert specs["synthetics.rollup"].cron == "5 * * * *"
    catalogue = load_catalogue(syn_world.ctx.registry)
    assert {name: catalogue.jobs[name].plugin for name in specs} == dict.fromkeys(
        specs, "synthetics"
    )
    assert not set(catalogue.rejected) & set(specs)

    now = datetime.now(UTC)
    context = JobContext(at=now, portal=syn_world.ctx, location="eu")
    jobs.beat(context)
    jobs.judge_health(JobContext(at=now, portal=syn_world.ctx))
    jobs.run_checks(context)
    jobs.roll_up(JobContext(at=now, portal=syn_world.ctx))
    row = location(syn_world, "eu")
    assert row.healthy and row.last_heartbeat_at is not None
    assert row.last_heartbeat_at >= now
