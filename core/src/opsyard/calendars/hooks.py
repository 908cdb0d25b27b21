"""Core's built-in plugin for sprint calendars: declares their error codes."""

from __future__ import annotations

from opsyard.calendars.errors import CALENDAR_ERROR_CODES
from opsyard.errors import ErrorCode
from opsyard.hookspecs import hookimpl


@hookimpl
def error_codes() -> list[ErrorCode]:
    return list(CALENDAR_ERROR_CODES)
