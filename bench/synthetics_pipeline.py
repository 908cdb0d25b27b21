"""The synthetics product pipeline's schedule lag: slot to start, as stored on each Run row.

`bench/synthetics.py` times the bare runner (`run_cycle`, no database). This benchmark runs
the product path instead: a database with N HTTP checks (one location, "bench", a body
assertion, default interval) and their Schedule rows, and the location driven exactly as the
scheduler drives its `synthetics.run` job: every `jobs.RUN_INTERVAL_SECONDS` of wall time
(aligned to the epoch, as the scheduler's slots are), one call of ``jobs.run_checks``. That
claims the Schedule rows due before the next tick and hands them to the location's runner in
this process (`location_runner`), which starts each check at its slot against a loopback
target, stores Run rows with their `lag_ms` in batches and folds them into alerting.

The cycle is one interval of the checks: the schedule is laid as `execution.sync_schedules`
lays it at the cycle's start (each check's next slot on its grid, offsets from
`slots.offset_seconds("<team>/<check>", interval)`), so every check is due exactly once in the
cycle. The job ticks from one tick before the cycle (as it would have all along) to its end;
then the runner is given time to store what it holds, and the stored Run rows are read: lag
p50/p95/p99/max, runs stored per second, missed slots, and whether every check ran once.
Checks that never started are counted too, with the lag they had reached when the cycle
ended (a lower bound).

100,000 checks every 5 minutes is 333 checks a second. By default the cycle is compressed to
20,000 checks over 60 s, the same rate; `--checks 100000 --interval 300` runs the full cycle.
`--cycles N` runs N intervals (the first is every location state's first run, the next ones
the steady state). `--every` changes how often the job is called, to see that the tick no
longer sets the lag; it is not what the scheduler does. `--profile FILE` writes a
pyinstrument profile of the driving thread (pyinstrument must be installed; the project does
not depend on it).

Checks and schedules are written in bulk (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), with the same columns `service.apply_checks` writes.

    .venv/bin/python bench/synthetics_pipeline.py      # SQLite, in a temporary directory
    .venv/bin/python bench/synthetics_pipeline.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/opsyard_bench
    .venv/bin/python bench/synthetics_pipeline.py --checks 100000 --interval 300

The PostgreSQL database is emptied first (its ``public`` schema is dropped and recreated), so
the name must contain "bench".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from escalation import bulk_insert, empty_database
from sqlalchemy import event, func, select, text
from synthetics import BODY_TEXT, start_target, wait_for_port

from opsyard.config import Settings
from opsyard.context import PortalContext, build_context
from opsyard.db import migrations
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.extension import JobContext
from opsyard.plugins import create_registry
from opsyard.teams import service as teams
from opsyard_synthetics import execution, jobs, location_runner, slots
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Run, Schedule

# The benchmark's siblings (bench/escalation.py, bench/synthetics.py) are importable because
# Python puts the script's own folder first on the path.
LOCATION = "bench"
TEAM = "bench"
SECRET = "bench-" + "x" * 40
BOUND_MS = 1000.0  # the bound on the lag p99

CHECK_COLUMNS = (
    "id",
    "team_id",
    "name",
    "kind",
    "definition",
    "interval_seconds",
    "offset_seconds",
    "critical",
    "locations",
    "depends_on_id",
    "quorum_failing",
    "quorum_of",
    "enabled",
    "alert_level",
    "created_at",
    "updated_at",
)
SCHEDULE_COLUMNS = ("id", "check_id", "location", "next_slot_at")


@dataclass(frozen=True)
class Tick:
    """One call of the run job, as the scheduler makes it."""

    due_at: datetime  # the scheduler's slot for the job
    at: datetime  # when the call began
    claimed: int  # runs handed to the runner
    seconds: float


# ----------------------------------------------------------------------------------------
# The data set


def check_name(number: int) -> str:
    return f"check-{number:06d}"


def definition_of(name: str, *, target_port: int, interval: int) -> dict[str, Any]:
    """The stored JSON of one HTTP check with a body assertion, validated as apply does."""
    return CheckDefinition.model_validate(
        {
            "name": name,
            "kind": "http",
            "interval_seconds": interval,
            "locations": [LOCATION],
            "steps": [
                {
                    "url": f"http://127.0.0.1:{target_port}/",
                    "assertions": ["status == 200", f'body contains "{BODY_TEXT}"'],
                }
            ],
        }
    ).model_dump(mode="json")


def create_team(ctx: PortalContext) -> int:
    """A team with the synthetics plugin switched on, through core's team service."""
    with session_scope(ctx.sessions) as session:
        team = teams.create_team(session, slug=TEAM, name="Bench", owner=None, actor=None)
        teams.enable_plugin(session, team=team, plugin=execution.PLUGIN, actor=None)
        session.flush()
        return team.id


def write_checks(
    ctx: PortalContext, *, team_id: int, checks: int, interval: int, target_port: int
) -> list[float]:
    """Insert the checks with the columns `service.apply_checks` writes; returns their
    offsets (check i has id i + 1)."""
    template = definition_of(check_name(1), target_port=target_port, interval=interval)
    now = utcnow()
    offsets = [
        slots.offset_seconds(f"{TEAM}/{check_name(n)}", interval) for n in range(1, checks + 1)
    ]

    def rows() -> Iterator[tuple[Any, ...]]:
        for n in range(1, checks + 1):
            yield (
                n,
                team_id,
                check_name(n),
                "http",
                {**template, "name": check_name(n)},
                interval,
                offsets[n - 1],
                False,
                [LOCATION],
                None,
                1,
                None,
                True,
                "none",
                now,
                now,
            )

    bulk_insert(ctx.engine, "synthetics_checks", CHECK_COLUMNS, rows())
    return offsets


def write_schedules(
    ctx: PortalContext, *, offsets: list[float], interval: int, start: datetime
) -> None:
    """One Schedule row per check at the location, as `execution.sync_schedules` lays it
    at `start`: the check's next slot on its grid."""
    bulk_insert(
        ctx.engine,
        "synthetics_schedules",
        SCHEDULE_COLUMNS,
        (
            (n, n, LOCATION, slots.next_slot_after(start, interval=interval, offset=offset))
            for n, offset in enumerate(offsets, start=1)
        ),
    )
    if ctx.engine.dialect.name == "postgresql":
        # Explicit ids were written: move the sequences past them, and gather statistics as
        # autovacuum would have by the time the tables hold this many rows.
        with ctx.engine.begin() as connection:
            for table in ("synthetics_checks", "synthetics_schedules"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


# ----------------------------------------------------------------------------------------
# Driving the location


def ceil_to(at: datetime, step: int) -> datetime:
    """The first instant at or after `at` on the epoch-aligned grid of `step` seconds."""
    seconds = math.ceil(at.timestamp() / step) * step
    return datetime.fromtimestamp(seconds, UTC)


def sleep_until(at: datetime) -> None:
    delay = (at - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def drive(ctx: PortalContext, *, start: datetime, end: datetime, every: int) -> list[Tick]:
    """Call the run job at each tick from one before `start` up to `end`; returns the
    calls made."""
    runner = location_runner.runner_for(ctx, LOCATION)
    ticks: list[Tick] = []
    due = start - timedelta(seconds=every)
    while due <= end:
        sleep_until(due)
        at = utcnow()
        began = time.perf_counter()
        before = runner.pending
        jobs.run_checks(JobContext(at=due, portal=ctx, location=LOCATION))
        claimed = runner.pending - before
        ticks.append(Tick(due, at, claimed, time.perf_counter() - began))
        print(
            f"  tick {due:%H:%M:%S}  at +{(at - due).total_seconds() * 1000:6.1f} ms"
            f"  claimed {claimed:5d}  in {ticks[-1].seconds:6.2f} s"
            f"  runner holds {runner.pending:5d}",
            flush=True,
        )
        due += timedelta(seconds=every)
    # What the runner still holds finishes its probes and is stored.
    if not runner.wait_idle(timeout=120):
        print(f"  the runner still held {runner.pending} runs 120 s after the cycle")
    return ticks


# ----------------------------------------------------------------------------------------
# The results


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def describe(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    return (
        f"p50 {percentile(ordered, 0.50):,.1f} ms, p95 {percentile(ordered, 0.95):,.1f} ms, "
        f"p99 {percentile(ordered, 0.99):,.1f} ms, max {ordered[-1]:,.1f} ms"
    )


def results(ctx: PortalContext, *, start: datetime, end: datetime, interval: int) -> dict[str, Any]:
    """What the stored runs and the schedule say after the cycles."""
    with ctx.engine.connect() as connection:
        runs = connection.execute(
            # The last ticks claim the first slots after the last cycle too; not counted.
            select(Run.check_id, Run.slot_at, Run.lag_ms, Run.missed_slots, Run.outcome).where(
                Run.location == LOCATION, Run.slot_at <= end
            )
        ).all()
        # Rows with a slot before the end that never ran.
        waiting = connection.execute(
            select(Schedule.next_slot_at).where(
                Schedule.location == LOCATION, Schedule.next_slot_at <= end
            )
        ).all()
        schedules = connection.execute(select(func.count()).select_from(Schedule)).scalar_one()
    per_check = Counter(row.check_id for row in runs)
    per_cycle: dict[int, list[float]] = {}
    for row in runs:
        # A check's k-th slot lies in (start + (k-1) * interval, start + k * interval].
        cycle = math.ceil((row.slot_at - start).total_seconds() / interval)
        per_cycle.setdefault(cycle, []).append(row.lag_ms)
    return {
        "runs": len(runs),
        "lags": [row.lag_ms for row in runs],
        "per_cycle": per_cycle,
        "missed": sum(row.missed_slots for row in runs),
        "outcomes": dict(Counter(row.outcome for row in runs)),
        "checks_run": len(per_check),
        "runs_per_check": Counter(per_check.values()),
        "never_ran": len(waiting),
        "waiting_lags": [slots.lag_ms(row.next_slot_at, end) for row in waiting],
        "schedules": schedules,
    }


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--interval", type=int, default=60, help="the checks' interval, s")
    parser.add_argument(
        "--cycles",
        type=int,
        default=1,
        help="intervals to run; the first is each location state's first run, the next ones "
        "the steady state",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=jobs.RUN_INTERVAL_SECONDS,
        help=f"seconds between calls (the job: {jobs.RUN_INTERVAL_SECONDS})",
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="Run on this PostgreSQL database (it is emptied)."
    )
    parser.add_argument("--profile", metavar="FILE", help="Write a pyinstrument profile here.")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        "command: " + " ".join([".venv/bin/python", "bench/synthetics_pipeline.py", *sys.argv[1:]])
    )
    print(f"load average before: {load()}")
    target, target_port = start_target()
    try:
        wait_for_port(target_port)
        with tempfile.TemporaryDirectory() as workdir:
            run(args, backend, target_port, Path(workdir))
    finally:
        target.terminate()
        target.wait(timeout=10)
    print(f"load average after: {load()}")


def run(args: argparse.Namespace, backend: str, target_port: int, workdir: Path) -> None:
    url = empty_database(args.postgres, workdir)
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        embedded_scheduler=False,
        log_level="WARNING",
        location=LOCATION,
        allow_private_targets=True,
    )
    registry = create_registry(load_entrypoints=True)
    ctx = build_context(settings, registry=registry)
    migrations.migrate(ctx.engine, registry)
    began = time.perf_counter()
    team_id = create_team(ctx)
    offsets = write_checks(
        ctx, team_id=team_id, checks=args.checks, interval=args.interval, target_port=target_port
    )
    # The cycle starts on a tick far enough ahead for the schedule to be written first.
    start = ceil_to(utcnow() + timedelta(seconds=args.every + 5 + args.checks / 5_000), args.every)
    write_schedules(ctx, offsets=offsets, interval=args.interval, start=start)
    built = time.perf_counter() - began
    if utcnow() >= start - timedelta(seconds=args.every):
        raise SystemExit("writing the schedule took past the cycle's start; try again")
    end = start + timedelta(seconds=args.interval * args.cycles)
    rate = args.checks / args.interval
    print(
        f"{args.checks:,} checks every {args.interval} s ({rate:.0f} checks/s) at one location, "
        f"{backend}; written in {built:.1f} s"
    )
    print(
        f"jobs.run_checks every {args.every} s"
        + (
            " (as the scheduler calls it)"
            if args.every == jobs.RUN_INTERVAL_SECONDS
            else " (NOT the scheduler's interval)"
        )
        + f", cycle {start:%H:%M:%S} to {end:%H:%M:%S} UTC, load {load()}"
    )

    statements: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # What the database is asked per run: one line per kind of statement.
        statements[" ".join(statement.split())[:90]] += 1

    event.listen(ctx.engine, "before_cursor_execute", count)
    profiler: Any = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    try:
        ticks = drive(ctx, start=start, end=end, every=args.every)
    finally:
        location_runner.stop_all()
        event.remove(ctx.engine, "before_cursor_execute", count)
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(
                profiler.output_text(unicode=False, color=False, show_all=False)
            )
    figures = results(ctx, start=start, end=end, interval=args.interval)
    ctx.engine.dispose()
    report(args, figures, ticks, start=start, end=end, statements=statements)


def report(
    args: argparse.Namespace,
    figures: dict[str, Any],
    ticks: list[Tick],
    *,
    start: datetime,
    end: datetime,
    statements: Counter[str],
) -> None:
    busy = sum(tick.seconds for tick in ticks)
    runs = figures["runs"]
    cycle = (end - start).total_seconds()
    lags = sorted(figures["lags"])
    p99 = percentile(lags, 0.99) if lags else math.inf
    print()
    print(f"lag of the {runs:,} stored runs: {describe(lags)}")
    for number, cycle_lags in sorted(figures["per_cycle"].items()):
        print(f"  cycle {number} ({len(cycle_lags):,} runs): {describe(cycle_lags)}")
    print(
        f"lag of all {runs + figures['never_ran']:,} slots due (those never started count with "
        f"the lag they had at the end, a lower bound): "
        f"{describe(figures['lags'] + figures['waiting_lags'])}"
    )
    print(
        f"runs stored per second: {runs / cycle:,.1f} over the cycles "
        f"(needed: {args.checks / args.interval:,.1f}); the job ran {len(ticks)} times, "
        f"{busy:,.2f} s in all, the longest {max((t.seconds for t in ticks), default=0):.2f} s"
    )
    print(
        f"missed slots (counted on runs): {figures['missed']:,}; slots due before the end "
        f"that never ran: {figures['never_ran']:,}"
    )
    once_per_cycle = figures["checks_run"] == args.checks and set(figures["runs_per_check"]) == {
        args.cycles
    }
    print(
        f"every check ran once per cycle: {'yes' if once_per_cycle else 'no'} "
        f"({figures['checks_run']:,} checks ran; runs per check: "
        f"{dict(sorted(figures['runs_per_check'].items()))}); outcomes {figures['outcomes']}"
    )
    total = sum(statements.values())
    print(
        f"SQL statements: {total:,} in all, {total / runs if runs else 0:.1f} per stored run; "
        "the most frequent (per stored run):"
    )
    for statement, times in statements.most_common(16):
        print(f"  {times / runs if runs else 0:6.2f}  {statement}")
    verdict = "under" if p99 < BOUND_MS and figures["never_ran"] == 0 else "NOT under"
    print(f"lag p99 {verdict} the {BOUND_MS:,.0f} ms bound")


if __name__ == "__main__":
    main()
