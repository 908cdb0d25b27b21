"""Sprint arithmetic for cadence and explicit calendars."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest

from opsyard.calendars.sprints import (
    CadenceCalendar,
    ExplicitCalendar,
    ListedSprint,
    sprint_after,
    upcoming,
)

TWO_WEEKS = CadenceCalendar(14, date(2026, 1, 5))
LISTED = ExplicitCalendar(
    [
        ListedSprint("Beta", date(2026, 1, 19), date(2026, 1, 30)),
        ListedSprint("Alpha", date(2026, 1, 5), date(2026, 1, 16)),
    ]
)


@pytest.mark.parametrize(
    ("day", "number", "starts_on", "ends_on"),
    [
        (date(2026, 1, 5), 1, date(2026, 1, 5), date(2026, 1, 18)),
        (date(2026, 1, 18), 1, date(2026, 1, 5), date(2026, 1, 18)),
        (date(2026, 1, 19), 2, date(2026, 1, 19), date(2026, 2, 1)),
        (date(2026, 1, 4), 0, date(2025, 12, 22), date(2026, 1, 4)),
        (date(2026, 11, 27), 24, date(2026, 11, 23), date(2026, 12, 6)),
    ],
)
def test_a_cadence_counts_from_its_anchor_both_ways(
    day: date, number: int, starts_on: date, ends_on: date
) -> None:
    sprint = TWO_WEEKS.sprint_on(day)
    assert (sprint.number, sprint.starts_on, sprint.ends_on) == (number, starts_on, ends_on)
    assert day in sprint and sprint.length_days == 14


@pytest.mark.parametrize(
    ("day", "name", "starts_on", "ends_on"),
    [
        (date(2026, 1, 5), "Alpha", date(2026, 1, 5), date(2026, 1, 16)),
        # A weekend between two listed sprints counts towards the next one.
        (date(2026, 1, 17), "Beta", date(2026, 1, 19), date(2026, 1, 30)),
        (date(2026, 1, 30), "Beta", date(2026, 1, 30 - 11), date(2026, 1, 30)),
        # After the list, sprints as long as the last one carry on.
        (date(2026, 1, 31), "Beta +1", date(2026, 1, 31), date(2026, 2, 11)),
        (date(2026, 2, 12), "Beta +2", date(2026, 2, 12), date(2026, 2, 23)),
        # Before it, sprints as long as the first one.
        (date(2026, 1, 4), "Alpha -1", date(2025, 12, 24), date(2026, 1, 4)),
        (date(2025, 12, 23), "Alpha -2", date(2025, 12, 12), date(2025, 12, 23)),
    ],
)
def test_an_explicit_list_is_sorted_and_extended_at_both_ends(
    day: date, name: str, starts_on: date, ends_on: date
) -> None:
    sprint = LISTED.sprint_on(day)
    assert (sprint.name, sprint.starts_on, sprint.ends_on) == (name, starts_on, ends_on)


def test_sprints_after_a_day_and_upcoming_ones() -> None:
    assert sprint_after(TWO_WEEKS, date(2026, 1, 10), 0).number == 1
    assert sprint_after(TWO_WEEKS, date(2026, 1, 10), 2).ends_on == date(2026, 2, 15)
    assert sprint_after(LISTED, date(2026, 1, 6), 1).name == "Beta"
    assert [s.name for s in upcoming(LISTED, date(2026, 1, 20), 3)] == [
        "Beta",
        "Beta +1",
        "Beta +2",
    ]
    # Sprint numbers are consecutive, so "k sprints later" is plain arithmetic.
    days = [LISTED.sprint_number(n) for n in range(-2, 6)]
    for before, after in pairwise(days):
        assert after.starts_on > before.ends_on


def test_calendars_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        CadenceCalendar(0, date(2026, 1, 5))
    with pytest.raises(ValueError, match="at least one sprint"):
        ExplicitCalendar([])
