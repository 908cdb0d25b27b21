"""Sprint arithmetic, free of the database: which sprint a day is in, and the k-th after it.

A calendar is either a cadence (sprints of `length_days` back to back from an anchor day,
forever in both directions) or an explicit list. An explicit list ends somewhere, yet items
due "two sprints from now" must still get a date, so beyond the last listed sprint the
calendar carries on with sprints as long as the last one, and before the first with sprints
as long as the first. A day in a gap between two listed sprints belongs to the next one: work
started in a break counts towards the sprint that follows it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol


@dataclass(frozen=True)
class Sprint:
    """One sprint. `number` orders sprints within their calendar (consecutive integers);
    `ends_on` is the sprint's last day."""

    number: int
    name: str
    starts_on: date
    ends_on: date

    @property
    def length_days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.starts_on <= day <= self.ends_on


class Calendar(Protocol):
    def sprint_on(self, day: date) -> Sprint:
        """The sprint `day` belongs to."""
        ...

    def sprint_number(self, number: int) -> Sprint:
        """The sprint with this `number`."""
        ...


def sprint_after(calendar: Calendar, day: date, sprints: int) -> Sprint:
    """The sprint `sprints` after the one `day` is in (0 is that sprint itself)."""
    return calendar.sprint_number(calendar.sprint_on(day).number + sprints)


def upcoming(calendar: Calendar, day: date, count: int) -> list[Sprint]:
    """The sprint `day` is in and the `count - 1` after it."""
    first = calendar.sprint_on(day).number
    return [calendar.sprint_number(first + offset) for offset in range(count)]


@dataclass(frozen=True)
class CadenceCalendar:
    """Sprints of `length_days`, the first starting on `anchor_on`."""

    length_days: int
    anchor_on: date

    def __post_init__(self) -> None:
        if self.length_days < 1:
            raise ValueError("a sprint lasts at least one day")

    def sprint_on(self, day: date) -> Sprint:
        return self.sprint_number((day - self.anchor_on).days // self.length_days + 1)

    def sprint_number(self, number: int) -> Sprint:
        starts_on = self.anchor_on + timedelta(days=(number - 1) * self.length_days)
        return Sprint(
            number=number,
            name=f"Sprint {number}",
            starts_on=starts_on,
            ends_on=starts_on + timedelta(days=self.length_days - 1),
        )


@dataclass(frozen=True)
class ListedSprint:
    """A sprint as a team entered it."""

    name: str
    starts_on: date
    ends_on: date


class ExplicitCalendar:
    """The sprints a team listed (sorted, not overlapping), numbered from 1."""

    def __init__(self, sprints: Sequence[ListedSprint]) -> None:
        if not sprints:
            raise ValueError("an explicit calendar lists at least one sprint")
        self._sprints = sorted(sprints, key=lambda sprint: sprint.starts_on)
        self._ends = [sprint.ends_on for sprint in self._sprints]

    @property
    def sprints(self) -> list[ListedSprint]:
        return list(self._sprints)

    def sprint_on(self, day: date) -> Sprint:
        first, last = self._sprints[0], self._sprints[-1]
        if day < first.starts_on:
            length = (first.ends_on - first.starts_on).days + 1
            return self.sprint_number(1 + (day - first.starts_on).days // length)
        if day > last.ends_on:
            length = (last.ends_on - last.starts_on).days + 1
            days_after = (day - last.ends_on).days - 1
            return self.sprint_number(len(self._sprints) + 1 + days_after // length)
        # The first listed sprint that has not ended by `day`: the one holding it, or the
        # next one when `day` falls in a gap.
        return self.sprint_number(bisect_left(self._ends, day) + 1)

    def sprint_number(self, number: int) -> Sprint:
        count = len(self._sprints)
        if 1 <= number <= count:
            listed = self._sprints[number - 1]
            return Sprint(number, listed.name, listed.starts_on, listed.ends_on)
        if number > count:
            last = self._sprints[-1]
            length = (last.ends_on - last.starts_on).days + 1
            starts_on = last.ends_on + timedelta(days=1 + (number - count - 1) * length)
            name = f"{last.name} +{number - count}"
        else:
            first = self._sprints[0]
            length = (first.ends_on - first.starts_on).days + 1
            starts_on = first.starts_on - timedelta(days=(1 - number) * length)
            name = f"{first.name} -{1 - number}"
        return Sprint(number, name, starts_on, starts_on + timedelta(days=length - 1))
