"""Delay from a job's scheduled instant to its start, on Celery with a real worker on Redis.

What is timed: for each run of a job due every second (the fixture plugin's ``fixture.tick``),
``job_runs.started_at - job_runs.due_at``: the scheduler waking up, recording the run,
publishing it, the broker, the worker taking it, and the run being claimed in the database.
Core's own jobs (event dispatch every 2 s, webhook delivery every 5 s, ...) run beside it, as
they would in production.

The Celery side runs ``opsyard scheduler`` and ``opsyard worker`` as subprocesses. The anchor
is the embedded backend (``opsyard serve``'s in-process scheduler and job threads) on the same
database: the ratio says what the broker and the separate processes add.

Needs the fixture plugin (``.tools/bin/uv sync --group fixture``) and a Redis server.

    .venv/bin/python bench/scheduling_delay.py                     # 300 runs each, SQLite
    .venv/bin/python bench/scheduling_delay.py --runs 100 --broker redis://127.0.0.1:6379/14
    .venv/bin/python bench/scheduling_delay.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Read by the fixture plugin when it is imported: declare fixture.tick every second.
os.environ["OPSYARD_FIXTURE_TICK_SECONDS"] = "1"

from kombu import Exchange, Queue
from sqlalchemy import create_engine, make_url, select, text

from opsyard.config import Settings
from opsyard.context import build_context
from opsyard.db import migrations
from opsyard.jobs import celery_app
from opsyard.jobs.embedded import EmbeddedScheduler
from opsyard.jobs.models import JobRun
from opsyard.plugins import create_registry

JOB = "fixture.tick"
WARM_UP = 5  # the first runs pay for connections being opened; not counted
OPSYARD = Path(sys.executable).parent / "opsyard"
SECRET = "bench-" + "x" * 40


def scratch_database(postgres: str | None, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A URL for an empty database, and a function that removes it afterwards."""
    if not postgres:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"opsyard_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(postgres), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(postgres).set(database=name).render_as_string(hide_password=False), drop


def delays_since(url: str, since: datetime) -> list[float]:
    """Seconds from due to start of each started run of the job queued after `since`."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(JobRun.due_at, JobRun.started_at)
            .where(JobRun.job == JOB, JobRun.queued_at >= since, JobRun.started_at.is_not(None))
            .order_by(JobRun.id)
        ).all()
    engine.dispose()
    return [(started - due).total_seconds() for due, started in rows]


def wait_for_runs(url: str, since: datetime, runs: int, check: Callable[[], None]) -> list[float]:
    deadline = time.monotonic() + 2 * (runs + WARM_UP) + 120
    while time.monotonic() < deadline:
        delays = delays_since(url, since)
        if len(delays) >= runs + WARM_UP:
            return delays[WARM_UP : WARM_UP + runs]
        check()
        time.sleep(1)
    raise SystemExit(f"gave up: only {len(delays_since(url, since))} runs started in time")


def measure_embedded(url: str, runs: int) -> list[float]:
    settings = Settings(database_url=url, secret_key=SECRET, log_level="WARNING")
    ctx = build_context(settings, registry=create_registry())
    since = datetime.now(UTC)
    embedded = EmbeddedScheduler(ctx)
    embedded.start()
    try:
        return wait_for_runs(url, since, runs, lambda: None)
    finally:
        embedded.stop()
        ctx.engine.dispose()


def measure_celery(url: str, broker: str, runs: int, concurrency: int, logs: Path) -> list[float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSYARD_")}
    env.update(
        OPSYARD_DATABASE_URL=url,
        OPSYARD_BROKER_URL=broker,
        OPSYARD_SECRET_KEY=SECRET,
        OPSYARD_QUEUE_PREFIX=prefix,
        OPSYARD_FIXTURE_TICK_SECONDS="1",
        OPSYARD_LOG_LEVEL="WARNING",
        OPSYARD_LOG_FORMAT="text",
    )
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *args: str) -> None:
        log = (logs / f"{name}.log").open("wb")
        processes[name] = subprocess.Popen(
            [str(OPSYARD), *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def check() -> None:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited:\n{(logs / f'{name}.log').read_text()}")

    start("worker", "worker", "--concurrency", str(concurrency))
    time.sleep(3)  # let the worker connect, so the first runs measure the steady state
    since = datetime.now(UTC)
    start("scheduler", "scheduler")
    try:
        return wait_for_runs(url, since, runs, check)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        _delete_queues(broker, prefix)


def _delete_queues(broker: str, prefix: str) -> None:
    settings = Settings(broker_url=broker, queue_prefix=prefix)
    app: Any = celery_app.make_celery(settings)
    for queue in ("default", "loc.default"):
        name = celery_app.queue_name(settings, queue)
        # Declared first: kombu's Redis transport deletes only what this channel declared.
        with app.connection_for_write() as connection:
            bound = Queue(name, Exchange(name), routing_key=name)(connection.default_channel)
            bound.declare()
            bound.purge()
            bound.delete()
    app.close()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def describe(values: list[float]) -> tuple[float, float, float, float]:
    return (
        percentile(values, 0.50) * 1000,
        percentile(values, 0.95) * 1000,
        percentile(values, 0.99) * 1000,
        max(values) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="Runs measured on each side.")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")
    parser.add_argument(
        "--postgres", metavar="URL", help="Run on a scratch database on this PostgreSQL server."
    )
    args = parser.parse_args()

    registry = create_registry()
    if "fixture" not in registry.names:
        raise SystemExit("needs the fixture plugin: run '.tools/bin/uv sync --group fixture'")
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = scratch_database(args.postgres, Path(workdir))
        try:
            engine = create_engine(url)
            migrations.migrate(engine, registry)
            engine.dispose()
            anchor = measure_embedded(url, args.runs)
            celery = measure_celery(url, args.broker, args.runs, args.concurrency, Path(workdir))
        finally:
            drop()

    backend = "postgresql" if args.postgres else "sqlite"
    broker = args.broker.split(":")[0]
    print(
        f"scheduling delay, scheduled instant -> job start: {args.runs} runs of a job due "
        f"every second, {backend}, {broker} broker, worker concurrency {args.concurrency}"
    )
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(f"  {'':34}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    rows = [
        ("celery: scheduler -> broker -> worker", describe(celery)),
        ("anchor: embedded (in-process)", describe(anchor)),
    ]
    for label, figures in rows:
        print(f"  {label:34}" + "".join(f"{value:7.1f}ms" for value in figures))
    ratios = [c / a if a else float("inf") for c, a in zip(rows[0][1], rows[1][1], strict=True)]
    print(f"  {'ratio celery / anchor':34}" + "".join(f"{ratio:8.1f}x" for ratio in ratios))
    print("command: " + " ".join([".venv/bin/python", "bench/scheduling_delay.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
