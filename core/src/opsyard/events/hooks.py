"""Core's events, as a built-in plugin: the dispatch job."""

from __future__ import annotations

from opsyard.events import dispatch
from opsyard.extension import JobSpec
from opsyard.hookspecs import hookimpl


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    return [JobSpec(name="core.events.dispatch", run=dispatch.run, interval_seconds=2)]
