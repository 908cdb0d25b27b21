"""Results over time: exact percentiles over raw runs, the hourly roll-up (idempotent) and
the views that merge it, pruning by retention, recent runs and the chart's series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from opsyard.db.engine import session_scope
from opsyard_synthetics import rollups, stats
from opsyard_synthetics.models import Rollup, Run, TeamSettings
from tests.conftest import World
from tests.plugins.synthetics.test_execution import add_check

NOW = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)


def store_runs(
    world: World,
    check_id: int,
    team: str,
    durations: Sequence[float],
    *,
    start: datetime,
    step: timedelta = timedelta(minutes=1),
    location: str = "eu",
    outcome: str = "ok",
) -> None:
    """Runs as the run job stores them, one every `step` from `start`."""
    team_id = world.teams[team].id
    with session_scope(world.ctx.sessions) as session:
        for n, ms in enumerate(durations):
            at = start + n * step
            session.add(
                Run(
                    check_id=check_id,
                    team_id=team_id,
                    location=location,
                    slot_at=at,
                    started_at=at,
                    duration_ms=ms,
                    lag_ms=0.0,
                    outcome=outcome,
                    steps=[],
                )
            )


def tcp_check(world: World, team: str = "alpha", name: str = "checkout") -> int:
    return add_check(
        world, team, name=name, kind="tcp", tcp={"host": "127.0.0.1", "port": 9}, locations=["eu"]
    ).id


def summary(
    world: World, check_id: int, window: timedelta, location: str | None = "eu"
) -> stats.Summary | None:
    with session_scope(world.ctx.sessions) as session:
        return rollups.percentiles(
            session, check_id=check_id, location=location, window=window, now=NOW
        )


def test_percentiles_are_exact_over_raw_runs(syn_world: World) -> None:
    check_id = tcp_check(syn_world)
    start = NOW - timedelta(minutes=40)
    store_runs(syn_world, check_id, "alpha", [70, 10, 100, 40, 20, 90, 30, 60, 50, 80], start=start)
    store_runs(syn_world, check_id, "alpha", [500, 700], start=start, location="us")
    # Errors never reached the target; they do not count as latencies.
    store_runs(syn_world, check_id, "alpha", [9999], start=start, outcome="error")
    eu = summary(syn_world, check_id, timedelta(hours=1))
    assert eu == stats.Summary(count=10, p50=50, p95=100, p99=100, min=10, max=100)
    both = summary(syn_world, check_id, timedelta(hours=1), location=None)
    assert both is not None and (both.count, both.p50, both.max) == (12, 60, 700)
    # Only from 11:55: the last five runs of eu (90, 30, 60, 50, 80).
    recent = summary(syn_world, check_id, timedelta(minutes=35))
    assert recent is not None and (recent.count, recent.p50, recent.min) == (5, 60, 30)
    assert summary(syn_world, check_id, timedelta(hours=1), location="ap") is None


def test_the_hourly_roll_up_is_idempotent_and_merges_into_longer_windows(
    syn_world: World,
) -> None:
    check_id = tcp_check(syn_world)
    day_ago = rollups.floor_hour(NOW) - timedelta(hours=20)
    # Twenty full hours of one run a minute, 1..1200 ms, and a few failing and error runs.
    store_runs(syn_world, check_id, "alpha", [float(n) for n in range(1, 1201)], start=day_ago)
    store_runs(syn_world, check_id, "alpha", [50.0, 60.0], start=day_ago, outcome="failing")
    store_runs(syn_world, check_id, "alpha", [5.0], start=day_ago, outcome="error")

    with session_scope(syn_world.ctx.sessions) as session:
        hours = rollups.roll_up(session, now=NOW)
    assert hours[0] == day_ago and hours[-1] == rollups.floor_hour(NOW) - timedelta(hours=1)
    with session_scope(syn_world.ctx.sessions) as session:
        first = session.get(Rollup, (check_id, "eu", day_ago))
        assert first is not None
        assert (first.runs, first.ok, first.failing, first.error) == (63, 60, 2, 1)
        histogram = stats.LatencyHistogram.from_json(first.histogram)
        assert (histogram.count, histogram.min, histogram.max) == (62, 1.0, 60.0)
        count_before = session.scalar(select(func.count()).select_from(Rollup))
    # Again, with a run that arrived late in the last rolled-up hour.
    store_runs(syn_world, check_id, "alpha", [7.0], start=NOW - timedelta(minutes=45))
    with session_scope(syn_world.ctx.sessions) as session:
        assert rollups.roll_up(session, now=NOW) == [rollups.floor_hour(NOW) - timedelta(hours=1)]
        assert session.scalar(select(func.count()).select_from(Rollup)) == count_before
        last = session.get(Rollup, (check_id, "eu", rollups.floor_hour(NOW) - timedelta(hours=1)))
        assert last is not None and last.runs == 61

    # 24 h: the rolled-up hours' histograms plus the raw runs of the current hour.
    day = summary(syn_world, check_id, timedelta(hours=24))
    assert day is not None and day.count == 1200 + 2 + 1
    exact = stats.summarise([*range(1, 1201), 50, 60, 7])
    for got, want in ((day.p50, exact.p50), (day.p95, exact.p95), (day.p99, exact.p99)):
        assert got is not None and want is not None
        assert abs(got - want) <= want * stats.RELATIVE_ERROR
    assert (day.min, day.max) == (1.0, 1200.0)


def test_prune_keeps_each_teams_retention_and_ninety_days_of_rollups(syn_world: World) -> None:
    alpha = tcp_check(syn_world, "alpha")
    beta = tcp_check(syn_world, "beta")
    with session_scope(syn_world.ctx.sessions) as session:
        session.add(TeamSettings(team_id=syn_world.teams["beta"].id, retention_days=2))
    three_days_ago = NOW - timedelta(days=3)
    for check_id, team in ((alpha, "alpha"), (beta, "beta")):
        store_runs(syn_world, check_id, team, [10.0], start=three_days_ago)
        store_runs(syn_world, check_id, team, [20.0], start=NOW - timedelta(days=20))
        store_runs(syn_world, check_id, team, [30.0], start=NOW - timedelta(minutes=5))
    with session_scope(syn_world.ctx.sessions) as session:
        session.add(
            Rollup(check_id=alpha, location="eu", hour=rollups.floor_hour(NOW - timedelta(days=91)))
        )
    rollups.roll_up_and_prune(syn_world.ctx, now=NOW)
    with session_scope(syn_world.ctx.sessions) as session:
        kept = {
            (check_id, ms)
            for check_id, ms in session.execute(select(Run.check_id, Run.duration_ms))
        }
        assert kept == {(alpha, 10.0), (alpha, 30.0), (beta, 30.0)}
        hours = set(session.scalars(select(Rollup.hour).where(Rollup.check_id == alpha)))
        # The old roll-up is gone; the pruned runs' hours were rolled up first.
        assert rollups.floor_hour(three_days_ago) in hours
        assert min(hours) >= NOW - timedelta(days=90)
        assert session.get(Rollup, (beta, "eu", rollups.floor_hour(three_days_ago))) is not None
    # The 7 d view still counts beta's pruned run, from its roll-up.
    week = summary(syn_world, beta, timedelta(days=7))
    assert week is not None and week.count == 2


def test_recent_runs_and_the_chart_series(syn_world: World) -> None:
    check_id = tcp_check(syn_world)
    start = NOW - timedelta(minutes=20)
    store_runs(syn_world, check_id, "alpha", [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], start=start)
    store_runs(syn_world, check_id, "alpha", [300, 400], start=start, location="us")
    store_runs(
        syn_world, check_id, "alpha", [1.0], start=NOW - timedelta(minutes=1), outcome="error"
    )
    with session_scope(syn_world.ctx.sessions) as session:
        latest = rollups.recent_runs(session, check_id=check_id, limit=3)
        assert [run.outcome for run in latest] == ["error", "ok", "ok"]
        assert latest[0].started_at > latest[1].started_at >= latest[2].started_at
        lines = rollups.series(
            session,
            check_id=check_id,
            since=NOW - timedelta(hours=1),
            now=NOW,
            bucket=timedelta(minutes=5),
        )
    eu, us = lines
    assert (eu.name, us.name) == ("eu", "us")
    # 12:10-12:15 holds 10..50, 12:15-12:20 holds 60..100, and 12:29 only the error.
    assert list(eu.points) == [
        (datetime(2026, 1, 5, 12, 10, tzinfo=UTC), 50.0),
        (datetime(2026, 1, 5, 12, 15, tzinfo=UTC), 100.0),
        (datetime(2026, 1, 5, 12, 25, tzinfo=UTC), None),
    ]
    assert list(us.points) == [(datetime(2026, 1, 5, 12, 10, tzinfo=UTC), 400.0)]


def test_the_series_uses_rollups_where_raw_runs_are_gone(syn_world: World) -> None:
    check_id = tcp_check(syn_world)
    old = rollups.floor_hour(NOW) - timedelta(hours=30)
    store_runs(syn_world, check_id, "alpha", [100.0, 200.0], start=old)
    with session_scope(syn_world.ctx.sessions) as session:
        rollups.roll_up(session, now=NOW)
        session.execute(delete(Run))
    store_runs(syn_world, check_id, "alpha", [5.0], start=NOW - timedelta(minutes=2))
    with session_scope(syn_world.ctx.sessions) as session:
        (eu,) = rollups.series(
            session,
            check_id=check_id,
            since=NOW - timedelta(days=2),
            now=NOW,
            bucket=timedelta(hours=1),
        )
    assert [point[0] for point in eu.points] == [old, rollups.floor_hour(NOW)]
    assert eu.points[1][1] == 5.0
    value = eu.points[0][1]
    assert value is not None and abs(value - 200.0) <= 200 * stats.RELATIVE_ERROR
