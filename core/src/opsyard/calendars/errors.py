"""Error codes of sprint calendars."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

INVALID_CALENDAR = ErrorCode(
    "calendar.invalid",
    Category.USER_FIXABLE,
    422,
    "The sprint calendar is not valid",
    "Give a sprint length of 1 to 90 days and an anchor date, or a list of sprints that "
    "each end on or after their start and do not overlap.",
)

CALENDAR_ERROR_CODES: tuple[ErrorCode, ...] = (INVALID_CALENDAR,)
