"""Latency statistics: exact summaries of raw results, and histograms that survive roll-up.

Raw results are kept for a short while, then rolled up hourly into `LatencyHistogram`s that
are merged for the 24 h and 7 d views. Percentiles cannot be averaged, but histograms with
the same fixed buckets can be added, so a merged histogram answers any percentile of the
whole period within the bucket error.

Buckets grow by a factor of 1.1 from 1 ms to 60 s, and a bucket answers with the point whose
relative error to both its edges is the same, (1.1 - 1) / (1.1 + 1) < 4.8 %. Below 1 ms the
error is under 1 ms; above 60 s the histogram only knows "more than 60 s" and answers with
the largest value seen. Answers are clamped to the exact minimum and maximum, which are kept.

Percentiles use the nearest-rank definition (the smallest value with at least q % of the
values at or below it): an exact percentile is always an observed value, and the histogram's
answer is within the error of that very value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOWEST_MS = 1.0
HIGHEST_MS = 60_000.0
GROWTH = 1.1
RELATIVE_ERROR = (GROWTH - 1) / (GROWTH + 1)
# Regular buckets are 1..LAST; 0 holds values below 1 ms and LAST + 1 those above 60 s.
LAST = math.ceil(math.log(HIGHEST_MS / LOWEST_MS) / math.log(GROWTH))
UNDERFLOW = 0
OVERFLOW = LAST + 1
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Summary:
    """Count, nearest-rank percentiles and extremes of a set of latencies in ms (None if empty)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    min: float | None
    max: float | None


def summarise(values: Iterable[float]) -> Summary:
    """The exact summary of raw latencies in ms."""
    ordered = sorted(_valid(value) for value in values)
    if not ordered:
        return Summary(count=0, p50=None, p95=None, p99=None, min=None, max=None)
    n = len(ordered)
    return Summary(
        count=n,
        p50=ordered[_rank(50, n) - 1],
        p95=ordered[_rank(95, n) - 1],
        p99=ordered[_rank(99, n) - 1],
        min=ordered[0],
        max=ordered[-1],
    )


def percentile(values: Iterable[float], q: float) -> float | None:
    """The exact nearest-rank q-th percentile (0 < q <= 100) of raw latencies (None if empty)."""
    ordered = sorted(_valid(value) for value in values)
    return ordered[_rank(q, len(ordered)) - 1] if ordered else None


def _rank(q: float, n: int) -> int:
    if not 0 < q <= 100:
        raise ValueError("a percentile is above 0 and at most 100")
    # Round away float noise first: 95 % of 100 is rank 95, not 96 from 95.00000000000001.
    return max(1, math.ceil(round(q / 100 * n, 9)))


def _valid(ms: float) -> float:
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"a latency is a finite, non-negative number of ms, not {ms!r}")
    return float(ms)


def bucket_of(ms: float) -> int:
    """The index of the bucket that holds a latency in ms."""
    ms = _valid(ms)
    if ms < LOWEST_MS:
        return UNDERFLOW
    if ms > HIGHEST_MS:
        return OVERFLOW
    # Bucket i (1..LAST) holds [GROWTH**(i-1), GROWTH**i) ms.
    return min(LAST, 1 + math.floor(math.log(ms / LOWEST_MS) / math.log(GROWTH)))


def bucket_value(index: int) -> float:
    """The value a regular bucket answers with: equally far, relatively, from both its edges."""
    if not 1 <= index <= LAST:
        raise ValueError(f"bucket {index} has no representative value")
    lower = LOWEST_MS * GROWTH ** (index - 1)
    return 2 * lower * GROWTH / (1 + GROWTH)


@dataclass
class LatencyHistogram:
    """Latencies in ms in fixed log-scale buckets, with the exact count, sum and extremes."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total: float = 0.0
    min: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> LatencyHistogram:
        """A histogram of the given latencies."""
        histogram = cls()
        for value in values:
            histogram.add(value)
        return histogram

    def add(self, ms: float) -> None:
        """Count one latency."""
        index = bucket_of(ms)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += ms
        self.min = ms if self.min is None else min(self.min, ms)
        self.max = ms if self.max is None else max(self.max, ms)

    def merge(self, other: LatencyHistogram) -> None:
        """Add every latency counted by `other` to this histogram."""
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.count += other.count
        self.total += other.total
        self.min = _pick(min, self.min, other.min)
        self.max = _pick(max, self.max, other.max)

    @property
    def mean(self) -> float | None:
        """The exact mean (None if empty)."""
        return self.total / self.count if self.count else None

    def percentile(self, q: float) -> float | None:
        """The nearest-rank q-th percentile (0 < q <= 100) within the bucket error, or None."""
        rank = _rank(q, self.count)
        if self.min is None or self.max is None:
            return None
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return self._answer(index, self.min, self.max)
        return self.max  # unreachable while count matches the buckets, which from_json checks

    def _answer(self, index: int, low: float, high: float) -> float:
        if index == UNDERFLOW:
            estimate = LOWEST_MS / 2
        elif index == OVERFLOW:
            estimate = high
        else:
            estimate = bucket_value(index)
        # The true value lies within [min, max], so clamping only ever moves towards it.
        return min(max(estimate, low), high)

    def summary(self) -> Summary:
        """The summary of everything counted, percentiles within the bucket error."""
        return Summary(
            count=self.count,
            p50=self.percentile(50),
            p95=self.percentile(95),
            p99=self.percentile(99),
            min=self.min,
            max=self.max,
        )

    def to_json(self) -> dict[str, Any]:
        """A compact JSON-ready form: only non-empty buckets, as [index, count] pairs."""
        return {
            "v": FORMAT_VERSION,
            "n": self.count,
            "sum": self.total,
            "min": self.min,
            "max": self.max,
            "b": [[index, self.buckets[index]] for index in sorted(self.buckets)],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LatencyHistogram:
        """Read back what `to_json` wrote; anything else raises ValueError."""
        if data.get("v") != FORMAT_VERSION:
            raise ValueError(f"unknown latency histogram format: {data.get('v')!r}")
        buckets: dict[int, int] = {}
        for pair in data.get("b", []):
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(isinstance(part, int) and not isinstance(part, bool) for part in pair)
            ):
                raise ValueError(f"a bucket is an [index, count] pair of integers, not {pair!r}")
            index, count = pair
            if not UNDERFLOW <= index <= OVERFLOW or count < 1 or index in buckets:
                raise ValueError(f"bucket [{index}, {count}] is out of range or repeated")
            buckets[index] = count
        count = data.get("n")
        if not isinstance(count, int) or count != sum(buckets.values()):
            raise ValueError("the histogram's count does not match its buckets")
        low, high, total = data.get("min"), data.get("max"), data.get("sum")
        if count and not all(isinstance(x, int | float) for x in (low, high, total)):
            raise ValueError("a non-empty histogram has a numeric min, max and sum")
        if not count and (low is not None or high is not None):
            raise ValueError("an empty histogram has no min or max")
        return cls(
            buckets=buckets,
            count=count,
            total=float(total or 0.0),
            min=None if low is None else float(low),
            max=None if high is None else float(high),
        )


def merge_all(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    """A new histogram of everything the given ones counted; they are left unchanged."""
    merged = LatencyHistogram()
    for histogram in histograms:
        merged.merge(histogram)
    return merged


def _pick(
    choose: Callable[[float, float], float], mine: float | None, theirs: float | None
) -> float | None:
    if mine is None:
        return theirs
    if theirs is None:
        return mine
    return choose(mine, theirs)
