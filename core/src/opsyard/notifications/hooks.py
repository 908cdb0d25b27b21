"""Core's built-in plugin for notifications: declares the sender job and the error codes."""

from __future__ import annotations

from opsyard.errors import ErrorCode
from opsyard.extension import JobSpec
from opsyard.hookspecs import hookimpl
from opsyard.notifications import sender
from opsyard.notifications.errors import NOTIFICATION_ERROR_CODES
from opsyard.oncall.errors import ONCALL_ERROR_CODES


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    # Every few seconds: a page waiting a minute for its first attempt is a minute lost.
    return [
        JobSpec(name=sender.JOB_NAME, run=sender.run, interval_seconds=5, time_limit_seconds=120)
    ]


@hookimpl
def error_codes() -> list[ErrorCode]:
    return [*NOTIFICATION_ERROR_CODES, *ONCALL_ERROR_CODES]
