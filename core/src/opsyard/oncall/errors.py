"""Error codes of on-call rotations."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

NOT_TEAM_MEMBER = ErrorCode(
    "oncall.not_team_member",
    Category.USER_FIXABLE,
    422,
    "Only team members can be on call",
    "Add the person to the team first, or choose someone who is in it.",
)
UNKNOWN_TIMEZONE = ErrorCode(
    "oncall.unknown_timezone",
    Category.USER_FIXABLE,
    422,
    "Unknown timezone",
    "Use an IANA timezone name such as Europe/Berlin, America/New_York or UTC.",
)
INVALID_WINDOW = ErrorCode(
    "oncall.invalid_window",
    Category.USER_FIXABLE,
    422,
    "The override window is not valid",
    "Give starts_at and ends_at with a UTC offset, with ends_at after starts_at.",
)
NAME_TAKEN = ErrorCode(
    "oncall.name_taken",
    Category.USER_FIXABLE,
    409,
    "A rotation with this name exists",
    "Choose another name, or change the existing rotation.",
)

ONCALL_ERROR_CODES: tuple[ErrorCode, ...] = (
    NOT_TEAM_MEMBER,
    UNKNOWN_TIMEZONE,
    INVALID_WINDOW,
    NAME_TAKEN,
)
