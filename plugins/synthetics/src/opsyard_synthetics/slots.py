"""The fixed-rate schedule: when each check's runs are due, with no drift and no pile-up.

A check with interval I runs at the slots `epoch + offset + k * I`, where the offset is a
stable hash of the check's key. Slots are aligned to the epoch, never to when the previous
run ended, so a slow run or a restart does not push later runs back, and the hash spreads
a team's checks over the interval instead of firing them all at the top of the minute.
A run that could not start on time (a worker was down) runs once, at the latest due slot;
the slots it skipped are counted and reported, never replayed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A fixed personalisation keeps these offsets independent of any other use of blake2b on
# the same keys; changing it would move every check's slot, so it never changes.
_PERSON = b"opsyard-slots"


@dataclass(frozen=True)
class MissedSlots:
    """What is due at a moment: the latest due slot (None: nothing) and how many were skipped."""

    count: int
    latest: datetime | None

    @property
    def due(self) -> bool:
        """Whether a run is due now."""
        return self.latest is not None


def offset_seconds(check_key: str, interval: int) -> float:
    """The check's stable offset within its interval, in whole milliseconds, the same in
    every process and release. Millisecond steps spread 100,000 checks over five minutes
    one every 3 ms, instead of bursts of 333 at the start of each second."""
    _check_interval(interval)
    # Python's hash() is salted per process; blake2b gives every scheduler the same answer.
    digest = hashlib.blake2b(check_key.encode(), digest_size=8, person=_PERSON).digest()
    return (int.from_bytes(digest, "big") % (interval * 1000)) / 1000


def slot_at_or_before(at: datetime, *, interval: int, offset: float) -> datetime:
    """The latest slot at or before `at` (in UTC)."""
    _check_interval(interval)
    _check_offset(offset, interval)
    step = timedelta(seconds=interval)
    start = EPOCH + timedelta(seconds=offset)
    # timedelta floor division is exact to the microsecond, unlike float timestamps.
    return start + (_aware(at) - start) // step * step


def next_slot_after(at: datetime, *, interval: int, offset: float) -> datetime:
    """The earliest slot strictly after `at` (in UTC)."""
    return slot_at_or_before(at, interval=interval, offset=offset) + timedelta(seconds=interval)


def missed_slots(
    last_slot: datetime | None, now: datetime, *, interval: int, offset: float
) -> MissedSlots:
    """What is due at `now` after the check last ran for `last_slot` (None: it never ran).

    Only the latest due slot is to run; `count` is the number of due slots before it that
    were skipped. A `last_slot` off the grid (the interval changed) is fine: every slot of
    the current grid after it is due.
    """
    latest = slot_at_or_before(now, interval=interval, offset=offset)
    if last_slot is None:
        return MissedSlots(count=0, latest=latest)
    first_due = next_slot_after(last_slot, interval=interval, offset=offset)
    if first_due > latest:
        return MissedSlots(count=0, latest=None)
    return MissedSlots(count=(latest - first_due) // timedelta(seconds=interval), latest=latest)


def lag_ms(slot_at: datetime, started_at: datetime) -> float:
    """How late a run started after its slot, in ms (negative when a clock runs ahead)."""
    return (_aware(started_at) - _aware(slot_at)) / timedelta(milliseconds=1)


def _aware(at: datetime) -> datetime:
    # A naive datetime has no place on a shared schedule: its meaning depends on the machine.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("schedule times must be timezone-aware")
    return at


def _check_interval(interval: int) -> None:
    if interval < 1:
        raise ValueError("interval must be at least 1 second")


def _check_offset(offset: float, interval: int) -> None:
    if not 0 <= offset < interval:
        raise ValueError("offset must be within the interval")
