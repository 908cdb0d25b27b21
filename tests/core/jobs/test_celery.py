"""The Celery backend against real brokers and real ``opsyard worker`` / ``opsyard scheduler``
processes.

Runs once per broker URL in OPSYARD_TEST_BROKER_URL (space-separated; CI lists Redis and
RabbitMQ). Without it the tests skip, except under CI=true, where they fail. The worker
subprocesses share this test's database through OPSYARD_DATABASE_URL: PostgreSQL when
OPSYARD_TEST_DATABASE_URL is set, else a SQLite file. These tests run on that one database
backend only: starting workers is what they cost, and the database code they drive is covered
on both backends by the other jobs tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kombu import Exchange, Queue
from sqlalchemy import select

from opsyard.config import Settings
from opsyard.context import PortalContext, build_context
from opsyard.db.engine import session_scope
from opsyard.jobs import celery_app, service
from opsyard.jobs.catalogue import Catalogue, load_catalogue
from opsyard.jobs.models import JobRun, Outcome
from opsyard.plugins import PluginRegistry
from opsyard_fixture.plugin import JOB_DIR_VARIABLE, RELEASE_FILE
from tests.conftest import IN_CI, POSTGRES_URL, TEST_SECRET

BROKERS = os.environ.get("OPSYARD_TEST_BROKER_URL", "").split()
OPSYARD = Path(sys.executable).parent / "opsyard"
# Waiting for a worker: its start-up alone takes seconds on a busy two-core machine.
PATIENCE = 60.0

pytestmark = pytest.mark.parametrize(
    "migrated_database", ["postgresql" if POSTGRES_URL else "sqlite"], indirect=True
)

T = TypeVar("T")


@pytest.fixture(params=BROKERS or [""], ids=lambda url: url.split(":")[0] or "no-broker")
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.param
    if not url:
        reason = (
            "OPSYARD_TEST_BROKER_URL is not set; set it to broker URLs separated by spaces, "
            "e.g. 'redis://127.0.0.1:6379/15 amqp://guest:guest@127.0.0.1:5672//'"
        )
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return url


@dataclass
class Cluster:
    """Worker and scheduler processes around one database and one broker, with helpers to
    queue runs and wait for them. Every process is killed when the test ends."""

    settings: Settings
    ctx: PortalContext
    catalogue: Catalogue
    app: Any
    env: dict[str, str]
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Processes the test stops on purpose; any other that exits fails the test at once.
    expected_exits: set[str] = field(default_factory=set)

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(OPSYARD), *args],
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killing it kills its children
        )
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def queue(self, job_name: str, *, location: str = "", publish: bool = True) -> JobRun:
        """Queue a run of the job as the scheduler would, and publish it."""
        job = self.catalogue.get(job_name)
        assert job is not None
        slot = datetime.now(UTC)
        with session_scope(self.ctx.sessions) as session:
            run = service.queue_run(
                session,
                target=service.Target(job, "", location),
                slot=slot,
                due_at=slot,
                queued_by="test",
            )
        assert run is not None
        if publish:
            celery_app.publish(self.app, self.settings, run=run, job=job)
        return run

    def run(self, run_id: int) -> JobRun:
        with session_scope(self.ctx.sessions) as session:
            found = session.get(JobRun, run_id)
            assert found is not None
            return found

    def runs(self, job: str) -> list[JobRun]:
        with session_scope(self.ctx.sessions) as session:
            return list(
                session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id))
            )

    def wait_for(self, what: str, check: Callable[[], T], timeout: float = PATIENCE) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            for name, process in self.processes.items():
                if process.poll() is not None and name not in self.expected_exits:
                    pytest.fail(f"{name} exited ({process.returncode}):\n{self.log(name)}")
            time.sleep(0.1)
        logs = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.processes)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def traces(self, job: str) -> list[dict[str, Any]]:
        path = self.folder / f"{job}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def queued_messages(self, queue: str) -> int:
        with self.app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(
                celery_app.queue_name(self.settings, queue), passive=True
            )
            return int(declared.message_count)


@pytest.fixture
def cluster(
    broker_url: str, database_url: str, registry: PluginRegistry, tmp_path: Path
) -> Iterator[Cluster]:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    values = {
        "database_url": database_url,
        "broker_url": broker_url,
        "secret_key": TEST_SECRET,
        "queue_prefix": prefix,
        # Short, so a message of a killed worker comes back quickly on Redis.
        "broker_visibility_timeout_seconds": 3,
        "log_format": "text",
        "log_level": "INFO",
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSYARD_")}
    env.update({f"OPSYARD_{k.upper()}": str(v) for k, v in values.items()})
    env[JOB_DIR_VARIABLE] = str(tmp_path)
    ctx = build_context(settings, registry=registry)
    made = Cluster(
        settings=settings,
        ctx=ctx,
        catalogue=load_catalogue(registry),
        app=celery_app.make_celery(settings),
        env=env,
        folder=tmp_path,
    )
    try:
        yield made
    finally:
        for name in made.processes:
            made.kill(name)
        _delete_queues(made, ["default", "loc.a", "loc.b", "loc.k", "loc.default"])
        ctx.engine.dispose()


def _delete_queues(cluster: Cluster, queues: list[str]) -> None:
    for queue in queues:
        name = celery_app.queue_name(cluster.settings, queue)
        # Declared first: kombu's Redis transport deletes only what this channel declared.
        # A connection each: on RabbitMQ a failed operation closes the channel.
        with cluster.app.connection_for_write() as connection, suppress(Exception):
            bound = Queue(name, Exchange(name), routing_key=name)(connection.default_channel)
            bound.declare()
            bound.purge()
            bound.delete()
    cluster.app.close()


def test_workers_run_their_queues_only_and_a_killed_workers_job_completes_once(
    cluster: Cluster,
) -> None:
    """Two workers in location a (each worker start costs seconds, so one test covers both
    behaviours): they run jobs from 'default' and loc.a, leave loc.b alone, and when the one
    running a job is killed mid-job, the other completes it, once."""
    for name in ("one", "two"):
        cluster.start(name, "worker", "--location", "a", "-Q", "default", "--concurrency", "1")
    plain = cluster.queue("fixture.record")
    here = cluster.queue("fixture.per_location", location="a")
    elsewhere = cluster.queue("fixture.per_location", location="b")

    def finished() -> bool:
        return all(cluster.run(r.id).outcome == Outcome.SUCCEEDED for r in (plain, here))

    cluster.wait_for("the plain and the location-a run to succeed", finished)
    ran = cluster.run(plain.id)
    assert ran.worker is not None and ran.worker.startswith("celery@")
    assert (ran.worker_location, ran.attempts) == ("a", 1)
    [trace] = cluster.traces("fixture.per_location")
    assert trace["location"] == "a" and trace["pid"] != os.getpid()

    job = "fixture.wait_for_release"
    run = cluster.queue(job)
    cluster.wait_for("the job to start", lambda: cluster.run(run.id).outcome == Outcome.RUNNING)
    [started] = cluster.wait_for("the job's own trace", lambda: cluster.traces(job))
    # The trace names the pool process; its worker leads the process group it belongs to.
    victim = next(n for n, p in cluster.processes.items() if p.pid == os.getpgid(started["pid"]))
    cluster.expected_exits.add(victim)
    cluster.kill(victim)
    # From now on the job may finish, but only in the other worker.
    (cluster.folder / RELEASE_FILE).touch()
    cluster.wait_for(
        "the redelivered run to succeed",
        lambda: cluster.run(run.id).outcome == Outcome.SUCCEEDED,
    )
    time.sleep(1.0)  # room for a duplicate, were there one
    ended = cluster.run(run.id)
    assert ended.attempts == 2
    traces = cluster.traces(job)
    assert [trace["phase"] for trace in traces] == ["started", "started", "done"], traces
    assert traces[1]["pid"] != started["pid"]
    assert [r.id for r in cluster.runs(job)] == [run.id]

    # All along, location b's run waited in loc.b for a worker of location b.
    assert cluster.run(elsewhere.id).outcome == Outcome.QUEUED
    assert cluster.queued_messages("loc.b") == 1


def test_a_second_scheduler_stands_by_instead_of_publishing(cluster: Cluster) -> None:
    tick = {"OPSYARD_FIXTURE_TICK_SECONDS": "1", "OPSYARD_SCHEDULER_LEASE_SECONDS": "3"}
    for name in ("scheduler-1", "scheduler-2"):
        cluster.start(name, "scheduler", **tick)

    def standing_by() -> str | None:
        return next((n for n in cluster.processes if "stands by" in cluster.log(n)), None)

    standby = cluster.wait_for("a scheduler to stand by", standing_by)
    leader = next(n for n in cluster.processes if n != standby)
    cluster.wait_for("ticks to be queued", lambda: len(cluster.runs("fixture.tick")) >= 2)
    time.sleep(1.0)
    holders = {r.queued_by for r in cluster.runs("fixture.tick")}
    assert len(holders) == 1, holders
    [holder] = holders
    assert holder.endswith(f"/{cluster.processes[leader].pid}")
    # Stopped cleanly, the leader hands over at once and the other carries on.
    cluster.expected_exits.add(leader)
    cluster.kill(leader, signal.SIGTERM)
    cluster.wait_for(
        "the standby scheduler to take over",
        lambda: len({r.queued_by for r in cluster.runs("fixture.tick")}) == 2,
        timeout=20,
    )
    ticks = cluster.runs("fixture.tick")
    slots = [r.scheduled_for for r in ticks]
    assert len(slots) == len(set(slots))
    # The hand-over takes about a lease renewal (1 s here), plus start-up under load; the
    # slots missed meanwhile run once, as of the latest.
    assert all(b - a <= timedelta(seconds=6) for a, b in pairwise(slots))
    # Each was published (a refused publish fails its run); with no worker each waiting
    # tick is superseded by the next.
    assert {(r.outcome, r.error_code) for r in ticks[:-1]} <= {("skipped", "jobs.superseded")}
    assert ticks[-1].outcome == Outcome.QUEUED
