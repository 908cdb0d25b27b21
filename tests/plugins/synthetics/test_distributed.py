"""The distributed set-up for real: three ``opsyard worker --location NAME`` processes on a real
broker, each probing a loopback target that answers each location as told.

A failure seen from one location pages nobody, from two of three it pages once (and not again
while it lasts), recovery resolves the page under the same key, and a maintenance window
silences the next failure.

Runs once per Redis URL in OPSYARD_TEST_BROKER_URL; without one the test skips, except under
CI=true, where it fails. Like the core Celery tests it runs on one database backend only
(PostgreSQL when OPSYARD_TEST_DATABASE_URL is set, else a SQLite file the workers share):
starting workers is what it costs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Exchange, Queue
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opsyard.config import Settings
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.jobs import celery_app
from opsyard.jobs.catalogue import load_catalogue
from opsyard.jobs.models import Outcome
from opsyard.plugins import PluginRegistry
from opsyard.teams.models import Team
from opsyard_synthetics import service, slots
from opsyard_synthetics.jobs import RUN_JOB
from opsyard_synthetics.models import Alert, Check, Run, Schedule
from tests.conftest import IN_CI, POSTGRES_URL, TEST_SECRET, World
from tests.core.jobs.test_celery import Cluster
from tests.core.notifications.helpers import ROUTING_KEY, add_channel, add_rotation, run_sender
from tests.core.notifications.receivers import PagerDutyReceiver
from tests.plugins.synthetics.target import LoopbackTarget

# The scenario runs on Redis, as operators of many locations mostly do; that per-location
# queues work on RabbitMQ too is core's test (tests/core/jobs).
BROKERS = [
    url for url in os.environ.get("OPSYARD_TEST_BROKER_URL", "").split() if url.startswith("redis")
]
LOCATIONS = ("eu", "us", "ap")
KEY = "synthetics/alpha/checkout"

pytestmark = pytest.mark.parametrize(
    "migrated_database", ["postgresql" if POSTGRES_URL else "sqlite"], indirect=True
)


@pytest.fixture(params=BROKERS or [""], ids=lambda url: url.split(":")[0] or "no-broker")
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.param
    if not url:
        reason = (
            "OPSYARD_TEST_BROKER_URL names no Redis broker; set it to a URL such as "
            "'redis://127.0.0.1:6379/15' to run three location workers against it"
        )
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyReceiver]:
    receiver = PagerDutyReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def settings(settings: Settings, pagerduty: PagerDutyReceiver) -> Settings:
    return settings.model_copy(update={"pagerduty_events_url": pagerduty.url})


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


@pytest.fixture
def cluster(
    broker_url: str, syn_world: World, registry: PluginRegistry, tmp_path: Path
) -> Iterator[Cluster]:
    """One worker per location on the broker, sharing the test's database."""
    values = {
        "database_url": syn_world.ctx.settings.database_url,
        "broker_url": broker_url,
        "secret_key": TEST_SECRET,
        "queue_prefix": f"t{uuid.uuid4().hex[:8]}-",
        "locations": ",".join(LOCATIONS),
        "allow_private_targets": True,  # the target listens on 127.0.0.1
        "log_format": "text",
        "log_level": "INFO",
    }
    settings = syn_world.ctx.settings.model_copy(update=values)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSYARD_")}
    env.update({f"OPSYARD_{k.upper()}": str(v) for k, v in values.items()})
    made = Cluster(
        settings=settings,
        ctx=syn_world.ctx,
        catalogue=load_catalogue(registry),
        app=celery_app.make_celery(settings),
        env=env,
        folder=tmp_path,
    )
    try:
        for location in LOCATIONS:
            made.start(location, "worker", "--location", location, "--concurrency", "1")
        yield made
    finally:
        for name in made.processes:
            made.kill(name)
        for location in LOCATIONS:
            name = celery_app.queue_name(settings, f"loc.{location}")
            # Declared first: kombu's Redis transport deletes only what this channel declared.
            with made.app.connection_for_write() as connection, suppress(Exception):
                bound = Queue(name, Exchange(name), routing_key=name)(connection.default_channel)
                bound.declare()
                bound.purge()
                bound.delete()
        made.app.close()


def _team(session: Session) -> Team:
    team = session.scalar(select(Team).where(Team.slug == "alpha"))
    assert team is not None
    return team


def _set_up_alpha(world: World, target: LoopbackTarget) -> None:
    """bob on call, a PagerDuty channel, and a critical check that pages at 2 of 3 failing
    locations; one run moves a location's state, so each round of runs is decisive."""
    add_rotation(world, "alice", "bob")
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    checks = f"""\
version: 1
checks:
  - name: checkout
    kind: http
    critical: true
    interval_seconds: 3600
    locations: [{", ".join(LOCATIONS)}]
    quorum: {{failing: 2, of: 3}}
    steps:
      - url: {target.url("/checkout")}
        timeout_s: 3
"""
    with session_scope(world.ctx.sessions) as session:
        team = _team(session)
        service.update_settings(
            session,
            team=team,
            actor=None,
            public_status_page=False,
            failure_threshold=1,
            success_threshold=1,
            retention_days=14,
        )
        service.apply_checks(session, portal=world.ctx, team=team, text=checks, actor=None)


def _round(cluster: Cluster, target: LoopbackTarget, *, failing: tuple[str, ...]) -> datetime:
    """Tell the target which locations to fail, make the check due everywhere, run the
    synthetics.run job in each location's queue and wait until every location stored its run.
    Returns when the round ended."""
    for location in LOCATIONS:
        target.set_location(location, status=503 if location in failing else 200)
    with session_scope(cluster.ctx.sessions) as session:
        check = session.scalars(select(Check).where(Check.name == "checkout")).one()
        # The check's slot is an hour apart; its latest slot is made due again instead of
        # waiting for the next one.
        due = slots.slot_at_or_before(
            utcnow(), interval=check.interval_seconds, offset=check.offset_seconds
        )
        session.execute(
            update(Schedule)
            .where(Schedule.check_id == check.id)
            .values(next_slot_at=due, claimed_by=None, claimed_until=None)
        )
        before = _run_count(session)
    jobs = [cluster.queue(RUN_JOB, location=location) for location in LOCATIONS]

    def finished() -> bool:
        return all(cluster.run(job.id).outcome == Outcome.SUCCEEDED for job in jobs)

    cluster.wait_for("each location's run job to succeed", finished)

    def stored() -> bool:
        # The job hands its claims to the location's runner, which stores them as they end.
        with session_scope(cluster.ctx.sessions) as session:
            return _run_count(session) == before + len(LOCATIONS)

    cluster.wait_for("each location's runner to store its run", stored)
    with session_scope(cluster.ctx.sessions) as session:
        latest = session.execute(
            select(Run.location, Run.outcome).order_by(Run.id.desc()).limit(len(LOCATIONS))
        ).all()
    assert sorted(latest) == sorted(
        (location, "failing" if location in failing else "ok") for location in LOCATIONS
    )
    for job in jobs:
        assert cluster.run(job.id).worker_location == job.location
    return datetime.now(UTC)


def _run_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Run)) or 0


def _alerts(cluster: Cluster) -> list[tuple[str, str]]:
    with session_scope(cluster.ctx.sessions) as session:
        return [
            (alert.level, alert.status)
            for alert in session.scalars(select(Alert).order_by(Alert.id))
        ]


def _pages(pagerduty: PagerDutyReceiver) -> list[tuple[str, str]]:
    return [(e["event_action"], e["dedup_key"]) for e in pagerduty.events]


def test_three_locations_page_on_a_quorum_resolve_on_recovery_and_respect_maintenance(
    cluster: Cluster, syn_world: World, target: LoopbackTarget, pagerduty: PagerDutyReceiver
) -> None:
    _set_up_alpha(syn_world, target)

    # Failing from eu alone: the target may be fine and eu's path to it is not.
    ended = _round(cluster, target, failing=("eu",))
    run_sender(syn_world.ctx, ended)
    assert pagerduty.events == [] and _alerts(cluster) == []

    # Failing from two of three: one page, to bob, who is on call.
    ended = _round(cluster, target, failing=("eu", "us"))
    run_sender(syn_world.ctx, ended)
    assert _pages(pagerduty) == [("trigger", KEY)]
    assert pagerduty.events[0]["payload"]["custom_details"]["failing_locations"] == ["eu", "us"]
    assert _alerts(cluster) == [("page", "open")]

    # Still failing, now from all three: nobody is paged again.
    ended = _round(cluster, target, failing=LOCATIONS)
    run_sender(syn_world.ctx, ended)
    assert _pages(pagerduty) == [("trigger", KEY)] and pagerduty.opened == 1

    # Recovered everywhere: the page resolves under the same key.
    ended = _round(cluster, target, failing=())
    run_sender(syn_world.ctx, ended)
    assert _pages(pagerduty) == [("trigger", KEY), ("resolve", KEY)]
    assert pagerduty.incidents == {(ROUTING_KEY, KEY): "resolved"}
    assert _alerts(cluster) == [("page", "resolved")]

    # In a maintenance window the same failure is recorded and pages nobody.
    with session_scope(syn_world.ctx.sessions) as session:
        service.add_maintenance(
            session,
            team=_team(session),
            starts_at=utcnow() - timedelta(minutes=1),
            ends_at=utcnow() + timedelta(hours=1),
            actor=None,
            reason="planned failover",
        )
    ended = _round(cluster, target, failing=("eu", "us"))
    run_sender(syn_world.ctx, ended)
    assert _pages(pagerduty) == [("trigger", KEY), ("resolve", KEY)]
    assert _alerts(cluster) == [("page", "resolved")]
