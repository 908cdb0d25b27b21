"""Rotation arithmetic: when each shift starts and which shift covers an instant.

Pure functions of the rotation's settings, no database. Hand-offs are local wall-clock times
in the rotation's IANA timezone, so a 09:00 hand-off stays at 09:00 across DST changes. A
hand-off time that does not exist on a spring-forward day (02:30 in a 02:00-03:00 gap)
happens at the same distance after the jump (03:30); one that occurs twice on a fall-back day
happens at its first occurrence (PEP 495's fold=0 for both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PERIOD_DAYS: dict[str, int] = {"daily": 1, "weekly": 7}


def load_timezone(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None when it is not a known IANA name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Schedule:
    """A rotation's timing: shift k starts at `handoff_time` on start_date + k periods."""

    zone: ZoneInfo
    handoff_time: time
    period_days: int
    start_date: date

    def handoff(self, shift: int) -> datetime:
        """The UTC instant shift number `shift` begins."""
        day = self.start_date + timedelta(days=shift * self.period_days)
        return datetime.combine(day, self.handoff_time, tzinfo=self.zone).astimezone(UTC)

    def shift_at(self, at: datetime) -> int | None:
        """The number of the shift covering `at`; None before the first hand-off."""
        local_day = at.astimezone(self.zone).date()
        shift = (local_day - self.start_date).days // self.period_days
        # The local date gives the right shift or its neighbour; the hand-off instants decide.
        while self.handoff(shift) > at:
            shift -= 1
        while self.handoff(shift + 1) <= at:
            shift += 1
        return shift if shift >= 0 else None

    def next_handoff(self, at: datetime) -> datetime:
        """The first hand-off strictly after `at`."""
        shift = self.shift_at(at)
        return self.handoff(0 if shift is None else shift + 1)

    def handoffs_between(self, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
        """(shift, instant) for every hand-off in [start, end)."""
        shift = self.shift_at(start)
        shift = 0 if shift is None else shift
        found: list[tuple[int, datetime]] = []
        while (instant := self.handoff(shift)) < end:
            if instant >= start:
                found.append((shift, instant))
            shift += 1
        return found


def member_index(shift: int, member_count: int) -> int:
    """Which member (by position) takes shift `shift`: members take turns in order."""
    return shift % member_count
