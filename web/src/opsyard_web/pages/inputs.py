"""Reading form fields as the API's schemas would: trimmed, length-checked, parsed.

A bad value raises an `OpsyardError` naming the field, so the form shows the problem beside
it instead of the database refusing the value later (PostgreSQL would, with a 500).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from opsyard import errors
from opsyard.errors import FieldProblem, OpsyardError

REACH = timedelta(days=3653)


def invalid(name: str, detail: str, hint: str) -> OpsyardError:
    return OpsyardError(errors.VALIDATION_FAILED, detail, fields=[FieldProblem(f"/{name}", hint)])


def text(value: str, *, name: str, label: str, max_length: int, required: bool = True) -> str:
    """`value` trimmed; refused when empty (if `required`) or longer than `max_length`."""
    value = value.strip()
    if required and not value:
        raise invalid(name, f"{label} is missing.", f"Give a {label.lower()}.")
    if len(value) > max_length:
        raise invalid(
            name,
            f"{label} is {len(value)} characters long.",
            f"Use at most {max_length} characters.",
        )
    return value


def flag(value: str, *, name: str = "enabled") -> bool:
    """``"true"`` or ``"false"``, as the switch buttons send them."""
    if value not in ("true", "false"):
        raise invalid(name, f"{name} must be true or false.", "Say true or false.")
    return value == "true"


def lines(value: str) -> list[str]:
    """The non-empty entries of a list typed one per line (commas work too)."""
    return [entry.strip() for entry in re.split(r"[\n,;]", value) if entry.strip()]


def clock_time(value: str, *, name: str) -> time:
    """An ``HH:MM`` time of day, as ``<input type="time">`` sends it."""
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise invalid(name, f"{value!r} is not a time of day.", "Use HH:MM, e.g. 09:00.") from None


def calendar_date(value: str, *, name: str) -> date:
    """A ``YYYY-MM-DD`` date, as ``<input type="date">`` sends it, within `REACH` of today."""
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise invalid(
            name, f"{value!r} is not a date.", "Use YYYY-MM-DD, e.g. 2025-01-06."
        ) from None
    _within_reach(datetime.combine(parsed, time(12), tzinfo=UTC), name)
    return parsed


def local_instant(value: str, *, name: str, zone: ZoneInfo) -> datetime:
    """A wall-clock ``YYYY-MM-DDTHH:MM`` (``<input type="datetime-local">``) read in `zone`,
    returned in UTC, within `REACH` of now."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid(name, f"{value!r} is not a date and time.", "Use YYYY-MM-DD HH:MM.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    _within_reach(parsed, name)
    return parsed.astimezone(UTC)


def _within_reach(instant: datetime, name: str) -> None:
    # Schedules are worked out in local time around these instants; dates near year 1 or
    # 9999 would overflow there, and no rota is planned that far off anyway.
    now = datetime.now(UTC)
    try:
        reachable = now - REACH <= instant <= now + REACH
    except OverflowError:  # comparing converts to UTC, which can leave the calendar
        reachable = False
    if not reachable:
        raise invalid(
            name, f"{instant:%Y-%m-%d} is too far off.", "Pick a date within ten years of today."
        )
