"""Core's inbound webhooks, as a built-in plugin: the processing job and the error codes."""

from __future__ import annotations

from opsyard.errors import ErrorCode
from opsyard.extension import JobSpec
from opsyard.hookspecs import hookimpl
from opsyard.inbound import process
from opsyard.inbound.errors import ERROR_CODES


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    return [JobSpec(name="core.inbound.process", run=process.run, interval_seconds=2)]


@hookimpl
def error_codes() -> list[ErrorCode]:
    return list(ERROR_CODES)
