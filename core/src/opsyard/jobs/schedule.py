"""Schedule maths: the slots of an interval or cron schedule, jitter, and what is due when.

Interval slots are aligned to the Unix epoch (every 300 s means :00, :05, :10 ...), so every
scheduler, every location and every restart agrees on which instants are slots. Cron
expressions have five fields and are read in UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter  # type: ignore[import-untyped]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class Schedule:
    """When a job's slots fall. Exactly one of `interval_seconds` and `cron` is set."""

    interval_seconds: int | None = None
    cron: str | None = None
    jitter_seconds: int = 0

    def __post_init__(self) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("set exactly one of interval_seconds and cron")
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        if self.cron is not None and (
            len(self.cron.split()) != 5 or not croniter.is_valid(self.cron)
        ):
            raise ValueError(f"{self.cron!r} is not a five-field cron expression")
        if self.jitter_seconds < 0:
            raise ValueError("jitter_seconds must not be negative")
        if self.interval_seconds is not None and self.jitter_seconds >= self.interval_seconds:
            # Otherwise a slot's run could start after the next slot is due.
            raise ValueError("jitter_seconds must be shorter than the interval")

    def latest_at_or_before(self, instant: datetime) -> datetime:
        """The last slot at or before `instant`."""
        if self.interval_seconds is not None:
            elapsed = int((instant - EPOCH) // timedelta(seconds=1))
            return EPOCH + timedelta(seconds=elapsed - elapsed % self.interval_seconds)
        assert self.cron is not None
        # croniter's get_prev is strictly before its start; nudge so a slot counts as its own.
        previous: datetime = croniter(self.cron, instant + _TINY).get_prev(datetime)
        return previous.astimezone(UTC)

    def next_after(self, instant: datetime) -> datetime:
        """The first slot strictly after `instant`."""
        if self.interval_seconds is not None:
            return self.latest_at_or_before(instant) + timedelta(seconds=self.interval_seconds)
        assert self.cron is not None
        following: datetime = croniter(self.cron, instant).get_next(datetime)
        return following.astimezone(UTC)

    def jitter(self, key: str, slot: datetime) -> timedelta:
        """How long after `slot` the run for `key` starts: in [0, jitter_seconds], spread
        evenly across keys and slots, and the same every time it is computed, so a restarted
        scheduler keeps the due times it had."""
        if self.jitter_seconds == 0:
            return timedelta()
        digest = hashlib.sha256(f"{key}|{slot.isoformat()}".encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return timedelta(seconds=round(fraction * self.jitter_seconds, 3))

    def describe(self) -> str:
        """A short human description: 'every 5m', 'cron 0 9 * * 1-5', '+ up to 30s jitter'."""
        text = f"every {_duration(self.interval_seconds)}" if self.interval_seconds else ""
        if self.cron is not None:
            text = f"cron {self.cron}"
        if self.jitter_seconds:
            text += f" (+ up to {_duration(self.jitter_seconds)} jitter)"
        return text


@dataclass(frozen=True)
class Plan:
    """The next run of one target: the slot it runs as of and when it is due to start."""

    slot: datetime
    due_at: datetime


def plan(schedule: Schedule, *, key: str, last_slot: datetime | None, now: datetime) -> Plan:
    """What a target runs next, given the last slot it was queued for.

    A target seen for the first time (`last_slot` None) waits for its next slot. A target that
    missed slots (the scheduler was down) runs once, as of the latest missed slot, rather than
    once per missed slot.
    """
    latest = schedule.latest_at_or_before(now)
    if last_slot is not None and latest > last_slot:
        return Plan(latest, latest + schedule.jitter(key, latest))
    after = max(now, last_slot) if last_slot is not None else now
    following = schedule.next_after(after)
    return Plan(following, following + schedule.jitter(key, following))


def _duration(seconds: int | None) -> str:
    if not seconds:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
