"""The fixed-rate schedule: stable offsets spread over the interval, aligned slots, no pile-up."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from opsyard_synthetics.slots import (
    EPOCH,
    MissedSlots,
    lag_ms,
    missed_slots,
    next_slot_after,
    offset_seconds,
    slot_at_or_before,
)

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_offsets_are_within_the_interval_and_stable() -> None:
    for interval in (1, 10, 60, 300, 86400):
        offset = offset_seconds("alpha/checkout-api", interval)
        assert 0 <= offset < interval
        assert offset_seconds("alpha/checkout-api", interval) == offset
    assert offset_seconds("alpha/checkout-api", 1) * 1000 == int(
        offset_seconds("alpha/checkout-api", 1) * 1000
    )


def test_offsets_are_the_same_in_another_process() -> None:
    # Python's hash() of a str changes with PYTHONHASHSEED; the schedule must not.
    keys = ["alpha/checkout-api", "beta/login", "a", ""]
    here = [offset_seconds(key, 300) for key in keys]
    code = (
        "from opsyard_synthetics.slots import offset_seconds;"
        f"print([offset_seconds(k, 300) for k in {keys!r}])"
    )
    for seed in ("1", "2"):
        there = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        assert there == repr(here)


def test_offsets_pinned() -> None:
    # Changing the hash would move every check's slot at the next deploy: pin a few values.
    pinned = {key: offset_seconds(key, 300) for key in ("alpha/checkout-api", "beta/login")}
    assert pinned == {"alpha/checkout-api": 204.821, "beta/login": 292.406}


def test_100000_checks_spread_evenly_over_300_seconds() -> None:
    per_second = Counter(
        int(offset_seconds(f"team-{i % 97}/check-{i}", 300)) for i in range(100_000)
    )
    mean = 100_000 / 300
    assert len(per_second) == 300
    assert max(per_second.values()) <= 2 * mean
    assert min(per_second.values()) >= mean / 2


def test_similar_keys_do_not_cluster() -> None:
    # Keys that differ in one character land all over the interval, not side by side.
    offsets = {offset_seconds(f"alpha/check-{i}", 300) for i in range(20)}
    assert len(offsets) >= 18
    assert max(offsets) - min(offsets) > 150


@pytest.mark.parametrize(
    ("at", "interval", "offset", "slot"),
    [
        # 12:00:00 is a slot of a 5-minute interval with no offset.
        (NOON, 300, 0, NOON),
        (NOON + timedelta(seconds=299), 300, 0, NOON),
        (NOON + timedelta(seconds=300), 300, 0, NOON + timedelta(minutes=5)),
        (NOON - timedelta(microseconds=1), 300, 0, NOON - timedelta(minutes=5)),
        # An offset of 17 s: slots at :00:17, :05:17, ...
        (NOON, 300, 17, NOON - timedelta(seconds=300 - 17)),
        (NOON + timedelta(seconds=17), 300, 17, NOON + timedelta(seconds=17)),
        (
            NOON + timedelta(seconds=16, microseconds=999_999),
            300,
            17,
            NOON - timedelta(seconds=283),
        ),
        # Intervals that do not divide a day still align to the epoch, not to midnight.
        (EPOCH + timedelta(seconds=7 * 1000 + 3), 7, 3, EPOCH + timedelta(seconds=7 * 1000 + 3)),
        (EPOCH + timedelta(seconds=7 * 1000 + 2), 7, 3, EPOCH + timedelta(seconds=7 * 999 + 3)),
        (EPOCH, 300, 10, EPOCH - timedelta(seconds=290)),
    ],
)
def test_slot_at_or_before(at: datetime, interval: int, offset: int, slot: datetime) -> None:
    assert slot_at_or_before(at, interval=interval, offset=offset) == slot


def test_slots_follow_the_instant_not_the_timezone() -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 14, 2, tzinfo=paris)  # 12:02 UTC
    slot = slot_at_or_before(local, interval=300, offset=0)
    assert slot == NOON
    assert slot.utcoffset() == timedelta(0)


def test_next_slot_is_strictly_after() -> None:
    assert next_slot_after(NOON, interval=300, offset=0) == NOON + timedelta(minutes=5)
    assert next_slot_after(NOON - timedelta(seconds=1), interval=300, offset=0) == NOON
    assert next_slot_after(NOON, interval=300, offset=30) == NOON + timedelta(seconds=30)


def test_no_drift_whatever_the_runs_took() -> None:
    # Each run takes a different, long time; the next slot is always on the grid.
    offset = offset_seconds("alpha/slow-check", 60)
    slot = slot_at_or_before(NOON, interval=60, offset=offset)
    for run_seconds in (0.5, 13, 59.9, 2, 45):
        finished = slot + timedelta(seconds=run_seconds)
        slot = next_slot_after(finished, interval=60, offset=offset)
        assert (slot - EPOCH).total_seconds() % 60 == offset
    assert slot == slot_at_or_before(NOON, interval=60, offset=offset) + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("last_slot", "now", "expected"),
    [
        # Never ran: the current slot runs, nothing was missed.
        (None, NOON + timedelta(seconds=10), MissedSlots(count=0, latest=NOON)),
        # Ran for the current slot already: nothing is due.
        (NOON, NOON + timedelta(seconds=299), MissedSlots(count=0, latest=None)),
        # On time: the next slot is due and none was skipped.
        (NOON, NOON + timedelta(seconds=300), MissedSlots(0, NOON + timedelta(minutes=5))),
        # A worker was down for 17 minutes: three slots passed, only the latest runs.
        (
            NOON,
            NOON + timedelta(minutes=17),
            MissedSlots(count=2, latest=NOON + timedelta(minutes=15)),
        ),
        # A day down: 287 skipped, one run.
        (NOON, NOON + timedelta(days=1), MissedSlots(count=287, latest=NOON + timedelta(days=1))),
        # A last slot off the grid (the interval changed from 60 s): the grid's slots after it.
        (
            NOON + timedelta(seconds=60),
            NOON + timedelta(minutes=11),
            MissedSlots(count=1, latest=NOON + timedelta(minutes=10)),
        ),
        # The clock went back behind the last slot: nothing is due.
        (NOON, NOON - timedelta(minutes=20), MissedSlots(count=0, latest=None)),
    ],
)
def test_missed_slots(last_slot: datetime | None, now: datetime, expected: MissedSlots) -> None:
    missed = missed_slots(last_slot, now, interval=300, offset=0)
    assert missed == expected
    assert missed.due is (expected.latest is not None)


def test_lag_ms() -> None:
    assert lag_ms(NOON, NOON + timedelta(seconds=1, microseconds=250_000)) == 1250.0
    assert lag_ms(NOON, NOON) == 0.0
    assert lag_ms(NOON, NOON - timedelta(milliseconds=3)) == -3.0
    paris = timezone(timedelta(hours=2))
    assert lag_ms(NOON, datetime(2024, 5, 1, 14, 0, 0, 5000, tzinfo=paris)) == 5.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: offset_seconds("k", 0), "interval"),
        (lambda: slot_at_or_before(NOON, interval=300, offset=300), "offset"),
        (lambda: slot_at_or_before(NOON, interval=300, offset=-1), "offset"),
        (lambda: slot_at_or_before(datetime(2024, 5, 1), interval=300, offset=0), "timezone"),
        (lambda: lag_ms(NOON, datetime(2024, 5, 1)), "timezone"),
        (lambda: missed_slots(None, NOON, interval=-5, offset=0), "interval"),
    ],
)
def test_bad_arguments_are_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
