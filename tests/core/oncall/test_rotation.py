"""Rotation arithmetic without a database: shifts, hand-offs, and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsyard.oncall.rotation import Schedule, load_timezone, member_index

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily(zone: ZoneInfo, start: date, at: time = time(9, 0)) -> Schedule:
    return Schedule(zone=zone, handoff_time=at, period_days=1, start_date=start)


def test_daily_shifts_change_at_the_local_handoff() -> None:
    schedule = daily(BERLIN, date(2026, 1, 5))  # winter: Berlin is UTC+1
    assert schedule.handoff(0) == utc(2026, 1, 5, 8, 0)
    assert schedule.shift_at(utc(2026, 1, 5, 7, 59)) is None  # before the first hand-off
    assert schedule.shift_at(utc(2026, 1, 5, 8, 0)) == 0
    assert schedule.shift_at(utc(2026, 1, 6, 7, 59, 59)) == 0
    assert schedule.shift_at(utc(2026, 1, 6, 8, 0)) == 1
    assert schedule.shift_at(utc(2026, 1, 9, 12, 0)) == 4
    people = ["alice", "bob", "carol"]
    assert [people[member_index(s, 3)] for s in range(5)] == [
        "alice",
        "bob",
        "carol",
        "alice",
        "bob",
    ]


def test_weekly_shifts_last_seven_days() -> None:
    schedule = Schedule(
        zone=ZoneInfo("UTC"), handoff_time=time(10, 0), period_days=7, start_date=date(2026, 1, 5)
    )
    assert schedule.shift_at(utc(2026, 1, 5, 10, 0)) == 0
    assert schedule.shift_at(utc(2026, 1, 12, 9, 59)) == 0  # the next Monday, before 10:00
    assert schedule.shift_at(utc(2026, 1, 12, 10, 0)) == 1
    assert schedule.shift_at(utc(2026, 1, 18, 23, 0)) == 1
    assert schedule.next_handoff(utc(2026, 1, 13, 0, 0)) == utc(2026, 1, 19, 10, 0)
    assert schedule.next_handoff(utc(2026, 1, 1, 0, 0)) == utc(2026, 1, 5, 10, 0)


@pytest.mark.parametrize(
    ("zone", "before", "after", "day_before", "day_after"),
    [
        # Europe moves clocks forward on 29 March 2026 and back on 25 October 2026.
        (BERLIN, date(2026, 3, 28), date(2026, 3, 29), utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        (
            BERLIN,
            date(2026, 10, 24),
            date(2026, 10, 25),
            utc(2026, 10, 24, 7),
            utc(2026, 10, 25, 8),
        ),
        # The United States: 8 March and 1 November 2026.
        (NEW_YORK, date(2026, 3, 7), date(2026, 3, 8), utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)),
        (
            NEW_YORK,
            date(2026, 10, 31),
            date(2026, 11, 1),
            utc(2026, 10, 31, 13),
            utc(2026, 11, 1, 14),
        ),
    ],
)
def test_handoffs_keep_local_time_across_dst(
    zone: ZoneInfo, before: date, after: date, day_before: datetime, day_after: datetime
) -> None:
    schedule = daily(zone, date(2026, 1, 1))
    first = (before - date(2026, 1, 1)).days
    assert schedule.handoff(first) == day_before
    assert schedule.handoff(first + 1) == day_after
    # The shift across the change is 23 or 25 hours long, not 24.
    assert abs(day_after - day_before - timedelta(hours=24)) == timedelta(hours=1)
    assert schedule.shift_at(day_after - timedelta(seconds=1)) == first
    assert schedule.shift_at(day_after) == first + 1
    assert day_after.astimezone(zone).time() == time(9, 0)


def test_a_weekly_handoff_across_spring_forward_is_167_hours_later() -> None:
    schedule = Schedule(
        zone=BERLIN, handoff_time=time(9, 0), period_days=7, start_date=date(2026, 3, 23)
    )
    assert schedule.handoff(1) - schedule.handoff(0) == timedelta(hours=167)
    assert schedule.shift_at(utc(2026, 3, 30, 7, 0)) == 1  # 09:00 CEST


def test_a_handoff_inside_the_spring_gap_happens_just_after_it() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026; the hand-off lands at 03:30 CEST.
    schedule = daily(BERLIN, date(2026, 3, 29), at=time(2, 30))
    assert schedule.handoff(0) == utc(2026, 3, 29, 1, 30)
    assert schedule.handoff(0).astimezone(BERLIN).time() == time(3, 30)


def test_a_handoff_in_the_repeated_autumn_hour_happens_the_first_time() -> None:
    schedule = daily(BERLIN, date(2026, 10, 25), at=time(2, 30))
    assert schedule.handoff(0) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not CET
    assert schedule.shift_at(utc(2026, 10, 25, 1, 30)) == 0


def test_handoffs_between_lists_each_change_in_the_window() -> None:
    schedule = daily(ZoneInfo("UTC"), date(2026, 1, 1))
    found = schedule.handoffs_between(utc(2026, 1, 2, 12), utc(2026, 1, 5, 9))
    assert found == [(2, utc(2026, 1, 3, 9)), (3, utc(2026, 1, 4, 9))]


def test_only_iana_names_are_timezones() -> None:
    assert load_timezone("Europe/Berlin") == BERLIN
    assert load_timezone("Mars/Olympus") is None
    assert load_timezone("../etc/passwd") is None
    assert load_timezone("") is None
