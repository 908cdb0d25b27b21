"""Action item deadlines: a date, or "sprint+k" resolved with the team's sprint calendar.

All days are UTC days, like the escalation ladder's steps.
"""

from __future__ import annotations

import re
from datetime import date

from opsyard.calendars.sprints import Calendar, sprint_after
from opsyard.errors import FieldProblem, OpsyardError
from opsyard_postmortems.errors import INVALID_DEADLINE

# "sprint+2", "Sprint + 2": forgiving about case and spaces, strict about the shape.
SPRINT_RULE = re.compile(r"^sprint\s*\+\s*(\d{1,3})$", re.IGNORECASE)
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A deadline years away is not a plan; the cap also keeps sprint arithmetic within range.
MAX_SPRINTS_AHEAD = 52
LATEST_YEAR = 2200

HOW_TO_FIX = (
    "Give a date (YYYY-MM-DD) that is not in the past, or 'sprint+k' for the last day of "
    "the sprint k after the current one ('sprint+0' is the end of this sprint)."
)


def parse_deadline(
    value: str, *, calendar: Calendar, today: date, pointer: str = "/deadline"
) -> tuple[date, str | None]:
    """The day `value` names and, for "sprint+k", the rule as typed in normal form."""
    text = value.strip()
    rule = SPRINT_RULE.match(text)
    if rule is not None:
        sprints = int(rule.group(1))
        if sprints > MAX_SPRINTS_AHEAD:
            raise OpsyardError(
                INVALID_DEADLINE,
                f"'sprint+{sprints}' is too far ahead; at most {MAX_SPRINTS_AHEAD} sprints.",
                fields=[FieldProblem(pointer, f"Use sprint+0 to sprint+{MAX_SPRINTS_AHEAD}.")],
            )
        return sprint_after(calendar, today, sprints).ends_on, f"sprint+{sprints}"
    if not ISO_DAY.match(text):
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{value!r} is neither a date nor 'sprint+k'.",
            fields=[FieldProblem(pointer, HOW_TO_FIX)],
        )
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{text} is not a day of the calendar.",
            fields=[FieldProblem(pointer, HOW_TO_FIX)],
        ) from None
    if day < today:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{day} is in the past (today is {today}).",
            fields=[FieldProblem(pointer, HOW_TO_FIX)],
        )
    if day.year > LATEST_YEAR:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{day} is too far ahead.",
            fields=[FieldProblem(pointer, f"Give a date before {LATEST_YEAR + 1}.")],
        )
    return day, None


def escalation_window_end(calendar: Calendar, *, created_on: date, sprints: int) -> date:
    """The last day of the escalation window: the end of the `sprints`-th sprint counted
    from (and including) the sprint of `created_on`."""
    return sprint_after(calendar, created_on, sprints - 1).ends_on


def sprint_end(calendar: Calendar, day: date) -> date:
    """The last day of the sprint that holds `day`."""
    return calendar.sprint_on(day).ends_on


def check_within_window(deadline: date, *, escalate_after: date, pointer: str) -> None:
    """Refuse a deadline after the escalation window: the item would escalate before it is due."""
    if deadline > escalate_after:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{deadline} is after {escalate_after}, the end of the team's escalation window: "
            "an item still open then is escalated.",
            fields=[
                FieldProblem(
                    pointer,
                    f"Choose a deadline on or before {escalate_after}, or split the work and "
                    "put the rest in the parking lot.",
                )
            ],
        )
