"""Latency statistics: exact summaries, and histograms whose merged percentiles stay accurate."""

from __future__ import annotations

import json
import math
import random

import pytest

from opsyard_synthetics.stats import (
    HIGHEST_MS,
    LAST,
    OVERFLOW,
    RELATIVE_ERROR,
    UNDERFLOW,
    LatencyHistogram,
    Summary,
    bucket_of,
    bucket_value,
    merge_all,
    percentile,
    summarise,
)

QUANTILES = (1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)


def close(estimate: float | None, exact: float | None) -> bool:
    assert estimate is not None and exact is not None
    if exact < 1:
        return abs(estimate - exact) < 1
    return abs(estimate - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)


# ---------------------------------------------------------------------------------------------
# Exact summaries of raw values


def test_summary_of_one_to_a_hundred() -> None:
    values = list(range(100, 0, -1))
    assert summarise(values) == Summary(count=100, p50=50, p95=95, p99=99, min=1, max=100)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], Summary(count=0, p50=None, p95=None, p99=None, min=None, max=None)),
        ([42.5], Summary(count=1, p50=42.5, p95=42.5, p99=42.5, min=42.5, max=42.5)),
        ([10, 20], Summary(count=2, p50=10, p95=20, p99=20, min=10, max=20)),
        ([3, 1, 2], Summary(count=3, p50=2, p95=3, p99=3, min=1, max=3)),
        # Nearest rank: p95 of 20 values is the 19th, p99 the 20th.
        (list(range(1, 21)), Summary(count=20, p50=10, p95=19, p99=20, min=1, max=20)),
    ],
)
def test_summaries(values: list[float], expected: Summary) -> None:
    assert summarise(values) == expected


def test_exact_percentile_is_an_observed_value() -> None:
    values = [0.25, 7.5, 1000.0, 3.0]
    for q in QUANTILES:
        assert percentile(values, q) in values
    assert percentile(values, 100) == 1000.0
    assert percentile([], 50) is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_latencies_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite, non-negative"):
        summarise([1.0, bad])
    with pytest.raises(ValueError, match="finite, non-negative"):
        LatencyHistogram().add(bad)


@pytest.mark.parametrize("q", [0, -5, 100.1])
def test_percentiles_outside_0_100_are_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], q)
    with pytest.raises(ValueError, match="percentile"):
        LatencyHistogram.of([1.0]).percentile(q)


# ---------------------------------------------------------------------------------------------
# Buckets


def test_bucket_error_bound_is_under_five_percent() -> None:
    assert RELATIVE_ERROR <= 0.05
    # Every value from 1 ms to 60 s is answered within the bound by its bucket's value.
    value = 1.0
    while value <= HIGHEST_MS:
        estimate = bucket_value(bucket_of(value))
        assert abs(estimate - value) <= RELATIVE_ERROR * value * (1 + 1e-9), value
        value *= 1.0037


def test_bucket_edges() -> None:
    assert bucket_of(0) == UNDERFLOW
    assert bucket_of(0.999) == UNDERFLOW
    assert bucket_of(1.0) == 1
    assert bucket_of(1.0999) == 1
    assert bucket_of(1.1001) == 2
    assert bucket_of(HIGHEST_MS) == LAST
    assert bucket_of(HIGHEST_MS + 0.001) == OVERFLOW
    # Buckets only grow.
    indexes = [bucket_of(v / 10) for v in range(10, 600_001, 997)]
    assert indexes == sorted(indexes)


# ---------------------------------------------------------------------------------------------
# Histograms


def test_empty_histogram() -> None:
    empty = LatencyHistogram()
    assert empty.count == 0
    assert empty.percentile(50) is None
    assert empty.mean is None
    assert empty.summary() == Summary(count=0, p50=None, p95=None, p99=None, min=None, max=None)


def test_histogram_keeps_exact_count_mean_and_extremes() -> None:
    histogram = LatencyHistogram.of([120.0, 80.0, 100.0, 3000.0])
    assert histogram.count == 4
    assert histogram.mean == 825.0
    assert (histogram.min, histogram.max) == (80.0, 3000.0)
    assert histogram.percentile(100) == 3000.0  # clamped to the exact maximum


def test_a_single_value_is_answered_exactly() -> None:
    # The answer is clamped to [min, max], which here is one point.
    histogram = LatencyHistogram.of([123.456])
    for q in QUANTILES:
        assert histogram.percentile(q) == 123.456


def test_below_one_ms_and_above_sixty_seconds() -> None:
    fast = LatencyHistogram.of([0.2, 0.4, 0.6])
    answer = fast.percentile(50)
    assert answer is not None and 0.2 <= answer <= 0.6
    slow = LatencyHistogram.of([1000.0, 90_000.0, 120_000.0])
    # Beyond 60 s the histogram only knows "more than 60 s": it answers with the largest seen.
    assert slow.percentile(99) == 120_000.0
    assert close(slow.percentile(10), 1000.0)


def random_latencies(rng: random.Random, n: int) -> list[float]:
    """A realistic mix: a log-normal body around 150 ms, a slow tail, some timeouts."""
    values = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.9:
            values.append(rng.lognormvariate(math.log(150), 0.5))
        elif roll < 0.99:
            values.append(rng.uniform(500, 8000))
        else:
            values.append(rng.uniform(10_000, 59_000))
    return values


@pytest.mark.parametrize("seed", range(8))
def test_merged_hourly_histograms_match_exact_percentiles(seed: int) -> None:
    rng = random.Random(seed)
    # A week of hourly roll-ups with a varying number of runs each hour.
    hours = [random_latencies(rng, rng.randint(0, 80)) for _ in range(24 * 7)]
    rolled = [LatencyHistogram.of(hour) for hour in hours]
    everything = [value for hour in hours for value in hour]
    day = [value for hour in hours[-24:] for value in hour]

    week = merge_all(rolled)
    last_day = merge_all(rolled[-24:])
    assert week.count == len(everything)
    assert last_day.count == len(day)
    for q in QUANTILES:
        assert close(week.percentile(q), percentile(everything, q)), q
        assert close(last_day.percentile(q), percentile(day, q)), q
    summary = week.summary()
    exact = summarise(everything)
    assert (summary.count, summary.min, summary.max) == (exact.count, exact.min, exact.max)
    assert close(summary.p50, exact.p50)
    assert close(summary.p95, exact.p95)
    assert close(summary.p99, exact.p99)
    assert week.mean == pytest.approx(sum(everything) / len(everything))


def test_merging_in_any_order_or_grouping_gives_the_same_histogram() -> None:
    rng = random.Random(42)
    parts = [LatencyHistogram.of(random_latencies(rng, 50)) for _ in range(6)]
    flat = merge_all(parts)
    grouped = merge_all([merge_all(parts[:2]), merge_all(parts[2:5]), parts[5]])
    backwards = merge_all(reversed(parts))
    assert grouped.buckets == flat.buckets == backwards.buckets
    assert (grouped.count, grouped.min, grouped.max) == (flat.count, flat.min, flat.max)
    assert grouped.total == pytest.approx(flat.total)


def test_merge_all_leaves_its_inputs_alone() -> None:
    one = LatencyHistogram.of([10.0])
    two = LatencyHistogram.of([20.0, 30.0])
    merged = merge_all([one, two])
    assert merged.count == 3
    assert (one.count, two.count) == (1, 2)
    merged.add(5.0)
    assert one == LatencyHistogram.of([10.0])


def test_merging_an_empty_histogram_changes_nothing() -> None:
    histogram = LatencyHistogram.of([10.0, 250.0])
    before = histogram.to_json()
    histogram.merge(LatencyHistogram())
    assert histogram.to_json() == before
    empty = LatencyHistogram()
    empty.merge(LatencyHistogram.of([10.0, 250.0]))
    assert empty.to_json() == before


# ---------------------------------------------------------------------------------------------
# Storage in a JSON column


def test_json_round_trip_is_compact_and_exact() -> None:
    rng = random.Random(7)
    histogram = LatencyHistogram.of([*random_latencies(rng, 500), 0.3, 75_000.0])
    stored = json.dumps(histogram.to_json())
    restored = LatencyHistogram.from_json(json.loads(stored))
    assert restored == histogram
    for q in QUANTILES:
        assert restored.percentile(q) == histogram.percentile(q)
    # Only non-empty buckets are stored, as [index, count] pairs: a few hundred bytes.
    assert len(stored) < 1200
    assert json.loads(stored)["b"][0] == [UNDERFLOW, 1]
    assert json.loads(stored)["b"][-1] == [OVERFLOW, 1]


def test_empty_histogram_round_trip() -> None:
    data = LatencyHistogram().to_json()
    assert data == {"v": 1, "n": 0, "sum": 0.0, "min": None, "max": None, "b": []}
    assert LatencyHistogram.from_json(data) == LatencyHistogram()


GOOD = {"v": 1, "n": 3, "sum": 30.0, "min": 5.0, "max": 15.0, "b": [[17, 1], [25, 2]]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 2}, "format"),
        ({"n": 4}, "count"),
        ({"n": "3"}, "count"),
        ({"b": [[17, 1], [17, 2]]}, "out of range or repeated"),
        ({"b": [[17, 0], [25, 3]]}, "out of range or repeated"),
        ({"b": [[OVERFLOW + 1, 3]]}, "out of range or repeated"),
        ({"b": [[-1, 3]]}, "out of range or repeated"),
        ({"b": [[17, 1.5], [25, 1.5]]}, "pair of integers"),
        ({"b": [[17, True], [25, 2]]}, "pair of integers"),
        ({"b": [17, 3]}, "pair of integers"),
        ({"min": None}, "numeric min, max and sum"),
        ({"sum": "30"}, "numeric min, max and sum"),
        ({"n": 0, "b": []}, "no min or max"),
    ],
)
def test_from_json_refuses_what_to_json_never_writes(
    change: dict[str, object], message: str
) -> None:
    assert LatencyHistogram.from_json(GOOD).count == 3
    with pytest.raises(ValueError, match=message):
        LatencyHistogram.from_json({**GOOD, **change})
