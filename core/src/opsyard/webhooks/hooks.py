"""Core's outbound webhooks, as a built-in plugin: the delivery job and the error codes."""

from __future__ import annotations

from opsyard.errors import ErrorCode
from opsyard.extension import JobSpec
from opsyard.hookspecs import hookimpl
from opsyard.net import TARGET_REFUSED
from opsyard.webhooks import deliver
from opsyard.webhooks.errors import ERROR_CODES


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    return [JobSpec(name="core.webhooks.deliver", run=deliver.run, interval_seconds=5)]


@hookimpl
def error_codes() -> list[ErrorCode]:
    return [*ERROR_CODES, TARGET_REFUSED]
