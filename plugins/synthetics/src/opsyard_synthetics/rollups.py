"""Results over time: the hourly roll-up, pruning, percentiles and the chart's series.

Raw runs are kept for the team's retention (14 days by default); every hour the previous
hour's runs are rolled up into one Rollup per check and location, whose latency histogram
merges into the 24 h and 7 d figures. Rollups are kept for 90 days. A run's latency is its
duration; runs that ended in `error` never reached the target and are left out of latencies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.teams.models import Team
from opsyard_synthetics import chart, stats
from opsyard_synthetics.models import DEGRADED, ERROR, FAILING, OK, Rollup, Run, TeamSettings
from opsyard_synthetics.slots import EPOCH

HOUR = timedelta(hours=1)
ROLLUP_RETENTION = timedelta(days=90)
DEFAULT_RETENTION_DAYS = 14
# When the roll-up job has been down, it catches up on at most this many hours per run.
CATCH_UP_HOURS = 24 * 14


@dataclass
class _Tally:
    histogram: stats.LatencyHistogram = field(default_factory=stats.LatencyHistogram)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def floor_hour(at: datetime) -> datetime:
    """The start of the UTC hour `at` falls in."""
    return at.replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    """The first UTC hour boundary at or after `at`."""
    start = floor_hour(at)
    return start if start == at else start + HOUR


def roll_up_hour(session: Session, *, hour: datetime) -> int:
    """Roll up the runs that started in the UTC hour from `hour`, replacing any earlier
    roll-up of it (so running it again changes nothing); returns the rows written."""
    hour = floor_hour(hour)
    tallies: dict[tuple[int, str], _Tally] = defaultdict(_Tally)
    rows = session.execute(
        select(Run.check_id, Run.location, Run.outcome, Run.duration_ms).where(
            Run.started_at >= hour, Run.started_at < hour + HOUR
        )
    )
    for check_id, location, outcome, duration_ms in rows:
        tally = tallies[(check_id, location)]
        tally.outcomes[outcome] += 1
        if outcome != ERROR:
            tally.histogram.add(duration_ms)
    session.execute(delete(Rollup).where(Rollup.hour == hour))
    for (check_id, location), tally in tallies.items():
        session.add(
            Rollup(
                check_id=check_id,
                location=location,
                hour=hour,
                runs=sum(tally.outcomes.values()),
                ok=tally.outcomes[OK],
                degraded=tally.outcomes[DEGRADED],
                failing=tally.outcomes[FAILING],
                error=tally.outcomes[ERROR],
                histogram=tally.histogram.to_json(),
            )
        )
    session.flush()
    return len(tallies)


def roll_up(session: Session, *, now: datetime) -> list[datetime]:
    """Roll up every finished hour since the last one rolled up (that one again, in case runs
    arrived late), or since the oldest run; returns the hours rolled up."""
    last = floor_hour(now) - HOUR
    latest = session.scalar(select(func.max(Rollup.hour)))
    if latest is None:
        oldest = session.scalar(select(func.min(Run.started_at)))
        if oldest is None:
            return []
        latest = floor_hour(oldest)
    start = max(latest, last - CATCH_UP_HOURS * HOUR)
    hours: list[datetime] = []
    hour = start
    while hour <= last:
        roll_up_hour(session, hour=hour)
        hours.append(hour)
        hour += HOUR
    return hours


def prune(session: Session, *, now: datetime) -> tuple[int, int]:
    """Delete runs older than their team's retention and rollups older than 90 days; returns
    how many of each. Cut-offs fall on hour boundaries, so the raw runs kept always start
    where a rolled-up hour ends."""
    kept = dict(session.execute(select(TeamSettings.team_id, TeamSettings.retention_days)).all())
    runs = 0
    for team_id in session.scalars(select(Team.id)):
        days = kept.get(team_id, DEFAULT_RETENTION_DAYS)
        cut = floor_hour(now - timedelta(days=days))
        result = session.execute(
            delete(Run)
            .where(Run.team_id == team_id, Run.started_at < cut)
            .execution_options(synchronize_session=False)
        )
        runs += getattr(result, "rowcount", 0) or 0
    result = session.execute(
        delete(Rollup)
        .where(Rollup.hour < floor_hour(now - ROLLUP_RETENTION))
        .execution_options(synchronize_session=False)
    )
    return runs, getattr(result, "rowcount", 0) or 0


def roll_up_and_prune(portal: PortalContext, *, now: datetime) -> None:
    """The hourly job: roll up first, so nothing is pruned before it is counted."""
    with session_scope(portal.sessions) as session:
        roll_up(session, now=now)
    with session_scope(portal.sessions) as session:
        prune(session, now=now)


def percentiles(
    session: Session,
    *,
    check_id: int,
    location: str | None,
    window: timedelta,
    now: datetime,
) -> stats.Summary | None:
    """p50/p95/p99 of the check's latencies over `window` up to `now`, from one location or
    all (None); None when there were no runs. Exact over raw runs; hours already rolled up
    come from their histograms, within the histogram's error."""
    since = now - window
    frontier = _frontier(session, check_id=check_id)
    raw: list[float] = []
    histograms: list[stats.LatencyHistogram] = []
    if frontier is None or since >= frontier:
        raw += _latencies(session, check_id, location, since, now)
    else:
        whole = ceil_hour(since)
        # The partial hour at the window's start, from its raw runs while they are kept.
        raw += _latencies(session, check_id, location, since, min(whole, frontier), end_open=True)
        query = select(Rollup.histogram).where(
            Rollup.check_id == check_id, Rollup.hour >= whole, Rollup.hour < frontier
        )
        if location is not None:
            query = query.where(Rollup.location == location)
        histograms += [stats.LatencyHistogram.from_json(data) for data in session.scalars(query)]
        raw += _latencies(session, check_id, location, frontier, now)
    if not histograms:
        summary = stats.summarise(raw)
    else:
        merged = stats.merge_all(histograms)
        merged.merge(stats.LatencyHistogram.of(raw))
        summary = merged.summary()
    return summary if summary.count else None


def recent_runs(session: Session, *, check_id: int, limit: int) -> list[Run]:
    """The check's latest runs from every location, newest first."""
    query = (
        select(Run)
        .where(Run.check_id == check_id)
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def series(
    session: Session,
    *,
    check_id: int,
    since: datetime,
    now: datetime,
    bucket: timedelta,
) -> list[chart.Series]:
    """One line per location of the check's p95 latency per `bucket` (aligned to the epoch)
    from `since` to `now`. Raw runs give the points while they are kept; before the oldest
    kept run of a location, its rolled-up hours do (a point per hour at most)."""
    buckets: dict[str, dict[datetime, _Bucket]] = defaultdict(dict)

    def bucket_of(location: str, at: datetime) -> _Bucket:
        return buckets[location].setdefault(_bucket_start(at, bucket), _Bucket())

    oldest_raw = dict(
        session.execute(
            select(Run.location, func.min(Run.started_at))
            .where(Run.check_id == check_id)
            .group_by(Run.location)
        ).all()
    )
    for location, at, ms, outcome in session.execute(
        select(Run.location, Run.started_at, Run.duration_ms, Run.outcome).where(
            Run.check_id == check_id, Run.started_at >= since, Run.started_at <= now
        )
    ):
        # A bucket of only errors is a gap in the line, not a missing point.
        values = bucket_of(location, at).values
        if outcome != ERROR:
            values.append(ms)
    for location, hour, data in session.execute(
        select(Rollup.location, Rollup.hour, Rollup.histogram).where(
            Rollup.check_id == check_id, Rollup.hour >= floor_hour(since), Rollup.hour <= now
        )
    ):
        first_raw = oldest_raw.get(location)
        if first_raw is None or hour + HOUR <= floor_hour(first_raw):
            histogram = stats.LatencyHistogram.from_json(data)
            bucket_of(location, max(hour, since)).histograms.append(histogram)
    return [
        chart.Series(
            name=location,
            points=[(start, found.p95()) for start, found in sorted(buckets[location].items())],
        )
        for location in sorted(buckets)
    ]


@dataclass
class _Bucket:
    """One point of a line: raw latencies (exact) and rolled-up hours (within their error)."""

    values: list[float] = field(default_factory=list)
    histograms: list[stats.LatencyHistogram] = field(default_factory=list)

    def p95(self) -> float | None:
        if not self.histograms:
            return stats.percentile(self.values, 95)
        merged = stats.merge_all(self.histograms)
        merged.merge(stats.LatencyHistogram.of(self.values))
        return merged.percentile(95)


def _frontier(session: Session, *, check_id: int) -> datetime | None:
    """The end of the check's last rolled-up hour; None when nothing is rolled up yet."""
    latest = session.scalar(select(func.max(Rollup.hour)).where(Rollup.check_id == check_id))
    return None if latest is None else latest + HOUR


def _latencies(
    session: Session,
    check_id: int,
    location: str | None,
    since: datetime,
    until: datetime,
    *,
    end_open: bool = False,
) -> Iterable[float]:
    if until <= since and end_open:
        return []
    end = Run.started_at < until if end_open else Run.started_at <= until
    query = select(Run.duration_ms).where(
        Run.check_id == check_id, Run.started_at >= since, end, Run.outcome != ERROR
    )
    if location is not None:
        query = query.where(Run.location == location)
    return list(session.scalars(query))


def _bucket_start(at: datetime, bucket: timedelta) -> datetime:
    return EPOCH + (at - EPOCH) // bucket * bucket
