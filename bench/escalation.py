"""The post-mortems escalation sweep over 1,000,000 action items, 1,000 of them due.

What is timed: ``opsyard_postmortems.escalation.sweep`` (the body of the
``postmortems.escalation`` job) taking the 1,000 due ladder steps: reading the due rows
through the index on ``next_action_at``, and for each one the compare-and-set UPDATE, the
history row, the event and the notifications (each team has a webhook and an email channel,
so two per step), committed per batch.

The anchor is the floor: a plain indexed ``SELECT count(*) ... WHERE next_action_at <= :at``
over the same table, the least any sweep must do to find the due items. The ratio says how
much the sweep adds per due item on top of finding it; neither figure should grow with the
999,000 items that are not due. The sweep with nothing due, what most runs of the job find,
is printed too.

The data: 1,000 teams with the plugin on, five members each, 1,000 items per team, three per
post-mortem (the plugin's limit). Of the items, 1,000 are due (a third each at the reminder,
the deadline and the escalation), 40% have their next step up to a year ahead, and the
rest are closed (no next step). Rows are written with ``executemany`` on SQLite and ``COPY``
on PostgreSQL.

    .venv/bin/python bench/escalation.py                    # SQLite file in a temporary directory
    .venv/bin/python bench/escalation.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/opsyard_bench

The PostgreSQL database is emptied first (its ``public`` schema is dropped and recreated), so
the name must contain "bench"; create it with ``psql -h 127.0.0.1 -U postgres -c 'CREATE
DATABASE opsyard_bench'``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, make_url, select, text, update

from opsyard.config import Settings
from opsyard.context import PortalContext, build_context
from opsyard.db import migrations
from opsyard.db.engine import make_engine
from opsyard.plugins import create_registry
from opsyard_postmortems import escalation
from opsyard_postmortems.ladder import start_of
from opsyard_postmortems.models import (
    DONE,
    ESCALATE,
    OPEN,
    OVERDUE,
    REMIND,
    ActionItem,
)

AT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MEMBERS_PER_TEAM = 5
ITEMS_PER_POSTMORTEM = 3
AHEAD_SHARE = 0.4  # of the items: open, next step within a year
SECRET = "bench-" + "x" * 40
CHUNK = 50_000


# ----------------------------------------------------------------------------------------
# Writing rows fast
# ----------------------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy's SQLite types store it (UTCDateTime is stored in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _chunks(rows: Iterable[tuple[Any, ...]], size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_insert(
    engine: Engine, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert `rows` (values in `columns` order) with COPY on PostgreSQL and executemany on
    SQLite, bypassing the ORM; returns how many."""
    written = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(columns)
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [json.dumps(v) if isinstance(v, dict | list) else v for v in row]
                    )
                    written += 1
        else:
            marks = ", ".join("?" for _ in columns)
            statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            for chunk in _chunks(rows):
                cursor.executemany(statement, [tuple(map(_sqlite_value, r)) for r in chunk])
                written += len(chunk)
        raw.commit()
    finally:
        raw.close()
    return written


# ----------------------------------------------------------------------------------------
# The data set
# ----------------------------------------------------------------------------------------


def empty_database(postgres: str | None, workdir: Path) -> str:
    if not postgres:
        return f"sqlite:///{workdir / 'bench.db'}"
    url = make_url(postgres)
    if "bench" not in (url.database or ""):
        raise SystemExit(f"refusing to empty {url.database!r}: use a database named *bench*")
    engine = make_engine(postgres)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres


def _due_item(kind: str, created: datetime) -> dict[str, Any]:
    """The ladder columns of an item whose step `kind` is due at AT, as the ladder plans it."""
    today = AT.date()
    if kind == REMIND:
        deadline = today + timedelta(days=1)  # reminded two days ahead: yesterday
        return {
            "deadline": deadline,
            "escalate_after": deadline + timedelta(days=14),
            "next_step": REMIND,
            "next_action_at": start_of(deadline - timedelta(days=2)),
        }
    if kind == OVERDUE:
        deadline = today - timedelta(days=1)
        return {
            "deadline": deadline,
            "escalate_after": deadline + timedelta(days=14),
            "reminded_at": start_of(deadline - timedelta(days=2)),
            "next_step": OVERDUE,
            "next_action_at": start_of(today),
        }
    deadline = today - timedelta(days=20)
    return {
        "deadline": deadline,
        "escalate_after": today - timedelta(days=1),
        "reminded_at": start_of(deadline - timedelta(days=2)),
        "overdue_at": start_of(deadline + timedelta(days=1)),
        "next_step": ESCALATE,
        "next_action_at": start_of(today),
    }


ITEM_COLUMNS = (
    "id",
    "postmortem_id",
    "team_id",
    "title",
    "description",
    "owner_id",
    "deadline",
    "created_sprint",
    "escalate_after",
    "status",
    "extensions_used",
    "next_step",
    "next_action_at",
    "reminded_at",
    "overdue_at",
    "escalated_at",
    "done_at",
    "decision_needed",
    "created_at",
    "updated_at",
)


def build(engine: Engine, *, items: int, teams: int, due: int, seed: int = 7) -> dict[str, int]:
    """Write the data set; returns row counts."""
    rng = random.Random(seed)
    created = AT - timedelta(days=30)
    counts: dict[str, int] = {}
    counts["teams"] = bulk_insert(
        engine,
        "teams",
        ("id", "slug", "name", "created_at"),
        ((t, f"team-{t}", f"Team {t}", created) for t in range(1, teams + 1)),
    )
    bulk_insert(
        engine,
        "team_plugins",
        ("team_id", "plugin", "enabled_at"),
        ((t, "postmortems", created) for t in range(1, teams + 1)),
    )
    people = teams * MEMBERS_PER_TEAM
    counts["users"] = bulk_insert(
        engine,
        "users",
        (
            "id",
            "email",
            "name",
            "is_admin",
            "is_active",
            "created_at",
            "failed_logins",
            "session_epoch",
        ),
        (
            (u, f"user{u}@example.com", f"User {u}", False, True, created, 0, 0)
            for u in range(1, people + 1)
        ),
    )
    bulk_insert(
        engine,
        "memberships",
        ("id", "team_id", "user_id", "role", "created_at"),
        (
            (
                u,
                (u - 1) // MEMBERS_PER_TEAM + 1,
                u,
                "owner" if u % MEMBERS_PER_TEAM == 1 else "member",
                created,
            )
            for u in range(1, people + 1)
        ),
    )
    channels: list[tuple[Any, ...]] = []
    for t in range(1, teams + 1):
        channels.append(
            (
                2 * t - 1,
                t,
                "webhook",
                "hook",
                True,
                {"url": f"https://hooks.example.com/{t}"},
                "whsec_" + "A" * 32,
                created,
            )
        )
        channels.append(
            (2 * t, t, "email", "mail", True, {"to": [f"team{t}@example.com"]}, None, created)
        )
    bulk_insert(
        engine,
        "notification_channels",
        ("id", "team_id", "kind", "name", "enabled", "config", "secret", "created_at"),
        channels,
    )

    per_team = items // teams
    postmortems_per_team = -(-per_team // ITEMS_PER_POSTMORTEM)
    counts["postmortems"] = bulk_insert(
        engine,
        "postmortems_postmortems",
        (
            "id",
            "team_id",
            "number",
            "title",
            "severity",
            "status",
            "incident_started_at",
            "summary",
            "impact",
            "contributing_factors",
            "lessons",
            "source",
            "created_at",
            "updated_at",
        ),
        (
            (
                (t - 1) * postmortems_per_team + n,
                t,
                n,
                f"Incident {n} of team {t}",
                "sev3",
                "published",
                created - timedelta(days=1),
                "",
                "",
                "",
                "",
                "manual",
                created,
                created,
            )
            for t in range(1, teams + 1)
            for n in range(1, postmortems_per_team + 1)
        ),
    )

    total = per_team * teams
    due_ids = set(rng.sample(range(1, total + 1), due))
    ahead_ids = set(
        rng.sample(sorted(set(range(1, total + 1)) - due_ids), int(total * AHEAD_SHARE))
    )
    kinds = (REMIND, OVERDUE, ESCALATE)

    def item_rows() -> Iterator[tuple[Any, ...]]:
        for item_id in range(1, total + 1):
            team = (item_id - 1) // per_team + 1
            index = (item_id - 1) % per_team
            postmortem = (team - 1) * postmortems_per_team + index // ITEMS_PER_POSTMORTEM + 1
            owner = (team - 1) * MEMBERS_PER_TEAM + 1 + index % MEMBERS_PER_TEAM
            row: dict[str, Any] = {
                "deadline": AT.date() + timedelta(days=60),
                "escalate_after": AT.date() + timedelta(days=70),
                "status": OPEN,
                "next_step": None,
                "next_action_at": None,
                "reminded_at": None,
                "overdue_at": None,
                "escalated_at": None,
                "done_at": None,
            }
            if item_id in due_ids:
                row.update(_due_item(kinds[item_id % 3], created))
            elif item_id in ahead_ids:
                day = AT.date() + timedelta(days=rng.randint(1, 365))
                row.update(
                    deadline=day + timedelta(days=2),
                    escalate_after=day + timedelta(days=16),
                    next_step=REMIND,
                    next_action_at=start_of(day),
                )
            else:
                row.update(status=DONE, done_at=created + timedelta(days=1))
            yield (
                item_id,
                postmortem,
                team,
                f"Action item {item_id}",
                "",
                owner,
                row["deadline"],
                "2026-05-04",
                row["escalate_after"],
                row["status"],
                0,
                row["next_step"],
                row["next_action_at"],
                row["reminded_at"],
                row["overdue_at"],
                row["escalated_at"],
                row["done_at"],
                False,
                created,
                created,
            )

    counts["items"] = bulk_insert(engine, "postmortems_action_items", ITEM_COLUMNS, item_rows())
    if engine.dialect.name == "postgresql":
        # Explicit ids were written: move the sequences past them, and gather statistics
        # as autovacuum would have by the time a table holds a million rows.
        with engine.begin() as connection:
            for table in (
                "teams",
                "users",
                "memberships",
                "notification_channels",
                "postmortems_postmortems",
                "postmortems_action_items",
            ):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return counts


# ----------------------------------------------------------------------------------------
# The measurements
# ----------------------------------------------------------------------------------------


def measure_floor(engine: Engine, repeat: int) -> tuple[float, int]:
    """Median seconds of the indexed count of due items, and the count."""
    query = select(func.count()).select_from(ActionItem).where(ActionItem.next_action_at <= AT)
    timings: list[float] = []
    found = 0
    with engine.connect() as connection:
        for _ in range(repeat + 1):  # the first warms the cache, as the sweep's reset does
            started = time.perf_counter()
            found = connection.execute(query).scalar_one()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:]), found


def _snapshot(engine: Engine) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The due items' ladder columns, and the highest ids of what a sweep writes."""
    columns = ("id", "next_step", "next_action_at", "reminded_at", "overdue_at", "escalated_at")
    with engine.connect() as connection:
        rows = connection.execute(
            select(*(getattr(ActionItem, c) for c in columns)).where(
                ActionItem.next_action_at <= AT
            )
        ).all()
        marks = {
            table: connection.execute(
                text(f"SELECT coalesce(max(id), 0) FROM {table}")
            ).scalar_one()
            for table in ("postmortems_item_history", "events", "notifications")
        }
    return [dict(zip(columns, row, strict=True)) for row in rows], marks


def _restore(engine: Engine, items: list[dict[str, Any]], marks: dict[str, int]) -> None:
    """Put the due items back as they were and remove what the sweep wrote."""
    table = ActionItem.__table__
    columns = [key for key in items[0] if key != "id"]
    with engine.begin() as connection:
        for name, mark in marks.items():
            connection.execute(text(f"DELETE FROM {name} WHERE id > :mark"), {"mark": mark})
        # Typed parameters, so the columns' own types store the values on either backend.
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("item_id"))
            .values({key: bindparam(f"old_{key}") for key in columns}),
            [
                {"item_id": item["id"], **{f"old_{key}": item[key] for key in columns}}
                for item in items
            ],
        )


def measure_sweep(ctx: PortalContext, due: int, repeat: int) -> tuple[list[float], float]:
    """Seconds of each sweep over the due items (put back between runs), and of one sweep
    with nothing due."""
    items, marks = _snapshot(ctx.engine)
    assert len(items) == due, (len(items), due)
    timings: list[float] = []
    for run in range(repeat):
        if run:
            _restore(ctx.engine, items, marks)
        started = time.perf_counter()
        result = escalation.sweep(ctx, at=AT)
        timings.append(time.perf_counter() - started)
        assert (result.taken, result.failed) == (due, 0), result
    started = time.perf_counter()
    idle = escalation.sweep(ctx, at=AT)
    idle_seconds = time.perf_counter() - started
    assert idle.taken == 0
    return timings, idle_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--teams", type=int, default=1_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="Sweeps timed (median reported).")
    parser.add_argument(
        "--postgres", metavar="URL", help="Run on this PostgreSQL database (it is emptied)."
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        url = empty_database(args.postgres, Path(workdir))
        settings = Settings(
            database_url=url,
            secret_key=SECRET,
            embedded_scheduler=False,
            log_level="WARNING",
        )
        registry = create_registry(load_entrypoints=True)
        ctx = build_context(settings, registry=registry)
        migrations.migrate(ctx.engine, registry)
        started = time.perf_counter()
        counts = build(ctx.engine, items=args.items, teams=args.teams, due=args.due)
        build_seconds = time.perf_counter() - started
        floor, found = measure_floor(ctx.engine, repeat=5)
        sweeps, idle = measure_sweep(ctx, args.due, args.repeat)
        ctx.engine.dispose()

    sweep = statistics.median(sweeps)
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"escalation sweep: {counts['items']:,} action items in {counts['teams']:,} teams, "
        f"{args.due:,} due, {backend}"
    )
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(
        f"  (built {counts['postmortems']:,} post-mortems and {counts['items']:,} items "
        f"in {build_seconds:.0f} s)"
    )
    print(
        f"  sweep, {args.due} steps (read, take, record, emit, notify)  {sweep * 1000:9.1f} ms"
        f"  ({sweep / args.due * 1000:.2f} ms per step; runs: "
        + ", ".join(f"{s * 1000:.0f}" for s in sweeps)
        + " ms)"
    )
    print(f"  floor: indexed count of the {found} due items           {floor * 1000:9.2f} ms")
    print(f"  ratio sweep / floor                                  {sweep / floor:9.0f}")
    print(f"  sweep with nothing due                               {idle * 1000:9.2f} ms")
    print("command: " + " ".join([".venv/bin/python", "bench/escalation.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
