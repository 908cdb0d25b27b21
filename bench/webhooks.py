"""Outbound webhook deliveries per second, from the delivery job to a receiver on loopback.

What is timed: ``opsyard.webhooks.deliver.deliver_due`` (the body of the ``core.webhooks.deliver``
job) draining N due deliveries: claiming them in the database, signing each per Standard
Webhooks, POSTing it, and recording the attempt and the outcome.

The anchor is the ceiling on this machine: the same N signed bodies POSTed straight from one
httpx client, with the same concurrency, to the same receiver, with no database at all. The
ratio says how much of that ceiling the job keeps. The receiver runs in its own process
(threaded ``http.server``, HTTP/1.1 keep-alive, answers 204) so it does not compete with the
sender for the interpreter lock.

    .venv/bin/python bench/webhooks.py                       # 2,000 deliveries on SQLite
    .venv/bin/python bench/webhooks.py --deliveries 5000 --concurrency 16
    .venv/bin/python bench/webhooks.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import create_engine, func, make_url, select, text

from opsyard.config import Settings
from opsyard.context import build_context
from opsyard.db import migrations
from opsyard.db.engine import session_scope
from opsyard.events import emit
from opsyard.events.dispatch import dispatch_pending
from opsyard.extension import EventType
from opsyard.hookspecs import hookimpl
from opsyard.net import http_client
from opsyard.plugins import create_registry
from opsyard.teams import service as teams
from opsyard.webhooks import service as webhooks
from opsyard.webhooks import signing
from opsyard.webhooks.deliver import deliver_due
from opsyard.webhooks.models import WebhookDelivery


class Ping(BaseModel):
    sequence: int
    note: str


class BenchPlugin:
    """Declares the one event type the benchmark emits."""

    @hookimpl
    def event_types(self) -> list[EventType]:
        return [EventType("bench.ping", Ping, "A benchmark event.")]


# ----------------------------------------------------------------------------------------
# The receiver, in its own process
# ----------------------------------------------------------------------------------------


def _serve(ready: Any, count: Synchronized[int]) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with count.get_lock():
                count.value += 1
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    server = Server(("127.0.0.1", 0), Handler)
    ready.send(server.server_address[1])
    server.serve_forever()


def start_receiver() -> tuple[multiprocessing.Process, str, Synchronized[int]]:
    count: Synchronized[int] = multiprocessing.Value("i", 0)
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(child, count), daemon=True)
    process.start()
    port = parent.recv()
    return process, f"http://127.0.0.1:{port}/hook", count


# ----------------------------------------------------------------------------------------
# The database
# ----------------------------------------------------------------------------------------


def scratch_database(postgres: str | None, workdir: Path) -> tuple[str, Any]:
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

    url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
    return url, drop


# ----------------------------------------------------------------------------------------
# The two measurements
# ----------------------------------------------------------------------------------------


def measure_job(url: str, receiver: str, deliveries: int, concurrency: int) -> dict[str, float]:
    settings = Settings(
        database_url=url,
        secret_key="bench-" + "x" * 40,
        allow_private_targets=True,
        webhook_concurrency=concurrency,
        embedded_scheduler=False,
        load_plugins=False,
    )
    registry = create_registry(load_entrypoints=False, extra=[("bench", BenchPlugin())])
    ctx = build_context(settings, registry=registry)
    migrations.migrate(ctx.engine, registry)
    with session_scope(ctx.sessions) as session:
        team = teams.create_team(session, slug="bench", owner=None, actor=None)
        webhooks.create_subscription(
            session,
            team=team,
            url=receiver,
            event_types=["bench.ping"],
            registry=registry,
            allow_private=True,
            actor=None,
        )
        for i in range(deliveries):
            emit(
                session,
                registry=registry,
                team=team,
                name="bench.ping",
                payload={"sequence": i, "note": "a payload of a typical size " * 4},
            )
    started = time.perf_counter()
    dispatched = dispatch_pending(ctx, at=datetime.now(UTC), budget_seconds=3600)
    dispatch_seconds = time.perf_counter() - started
    assert dispatched == deliveries

    started = time.perf_counter()
    run = deliver_due(ctx, at=datetime.now(UTC), budget_seconds=3600)
    seconds = time.perf_counter() - started
    with ctx.sessions() as session:
        succeeded = session.scalar(
            select(func.count()).where(WebhookDelivery.status == "succeeded")
        )
    ctx.engine.dispose()
    # A transient failure is retried seconds later, after the run: it counts against the job.
    assert run.succeeded == succeeded, (run, succeeded)
    return {"seconds": seconds, "dispatch_seconds": dispatch_seconds, "succeeded": run.succeeded}


def measure_anchor(receiver: str, deliveries: int, concurrency: int) -> tuple[float, int]:
    """Seconds for `deliveries` signed POSTs, and how many of them succeeded."""
    secret = signing.new_secret()
    body = signing.message_body(
        event_type="bench.ping",
        occurred_at=datetime.now(UTC),
        data={"sequence": 0, "note": "a payload of a typical size " * 4},
    )

    def post(client: httpx.Client) -> bool:
        headers = signing.headers(
            secrets_in_use=[secret],
            msg_id=f"evt_{uuid.uuid4().hex}",
            timestamp=datetime.now(UTC),
            body=body,
        )
        try:
            response = client.post(receiver, content=body.encode(), headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    with http_client() as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        succeeded = sum(pool.map(lambda _: post(client), range(deliveries)))
        return time.perf_counter() - started, succeeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=Settings().webhook_concurrency)
    parser.add_argument(
        "--postgres", metavar="URL", help="Run on a scratch database on this PostgreSQL server."
    )
    args = parser.parse_args()

    process, receiver, count = start_receiver()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            url, drop = scratch_database(args.postgres, Path(workdir))
            try:
                job = measure_job(url, receiver, args.deliveries, args.concurrency)
            finally:
                drop()
        anchor_seconds, anchor_succeeded = measure_anchor(
            receiver, args.deliveries, args.concurrency
        )
    finally:
        process.terminate()

    job_rate = job["succeeded"] / job["seconds"]
    anchor_rate = anchor_succeeded / anchor_seconds
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"outbound webhooks: {args.deliveries} deliveries to a loopback receiver, "
        f"{backend}, concurrency {args.concurrency}"
    )
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(
        f"  delivery job (claim, sign, send, record)  {job_rate:8.0f} deliveries/s"
        f"  {job['seconds']:6.2f} s"
    )
    print(
        f"  anchor: bare signed POSTs, same client    {anchor_rate:8.0f} requests/s  "
        f"  {anchor_seconds:6.2f} s"
    )
    print(f"  ratio job / anchor                        {job_rate / anchor_rate:8.2f}")
    dispatch_rate = args.deliveries / job["dispatch_seconds"]
    print(
        f"  (dispatching the {args.deliveries} events to the subscription took "
        f"{job['dispatch_seconds']:.2f} s, {dispatch_rate:.0f} events/s)"
    )
    for label, done in (("delivery job", job["succeeded"]), ("anchor", anchor_succeeded)):
        if done != args.deliveries:
            print(f"  note: {label}: {args.deliveries - done} sends failed on the first try")
    print(f"  receiver answered {count.value} requests")
    print("command: " + " ".join([".venv/bin/python", "bench/webhooks.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
