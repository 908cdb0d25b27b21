"""The jobs core and the plugins declare, checked once and looked up by name."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from opsyard.extension import JobSpec
from opsyard.jobs.schedule import Schedule
from opsyard.plugins import PluginRegistry

log = logging.getLogger(__name__)

JOB_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
# Queue names end up in Redis keys and AMQP queue names; keep them plain.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class Job:
    """A declared job with the plugin that declared it and its parsed schedule."""

    spec: JobSpec
    plugin: str
    schedule: Schedule

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_core(self) -> bool:
        # Core's built-in per-team jobs run for every team; plugins' only where enabled.
        return self.plugin.startswith("core.")


@dataclass
class Catalogue:
    """Every valid job by name, and why the invalid ones were left out."""

    jobs: dict[str, Job] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Job]:
        return iter(sorted(self.jobs.values(), key=lambda job: job.name))

    def __len__(self) -> int:
        return len(self.jobs)

    def get(self, name: str) -> Job | None:
        return self.jobs.get(name)


def load_catalogue(registry: PluginRegistry) -> Catalogue:
    """The jobs of core's built-ins and every loaded plugin, from the ``scheduled_jobs`` hook."""
    declared: list[tuple[str, object]] = []
    for plugin, specs in registry.call_each("scheduled_jobs"):
        try:
            declared.extend((plugin, spec) for spec in specs or [])
        except TypeError:
            log.error("plugin %s: scheduled_jobs did not return a list; ignored", plugin)
    return build_catalogue(declared)


def build_catalogue(declared: Iterable[tuple[str, object]]) -> Catalogue:
    """Check each (plugin, spec) pair; a bad one is logged and left out, never fatal."""
    catalogue = Catalogue()
    for plugin, spec in declared:
        if not isinstance(spec, JobSpec):
            log.error("plugin %s: %r is not a JobSpec; ignored", plugin, spec)
            continue
        problem = _problem(plugin, spec, catalogue)
        if problem is not None:
            log.error("job %s of %s ignored: %s", spec.name, plugin, problem)
            catalogue.rejected[spec.name] = problem
            continue
        schedule = Schedule(spec.interval_seconds, spec.cron, spec.jitter_seconds)
        catalogue.jobs[spec.name] = Job(spec=spec, plugin=plugin, schedule=schedule)
    return catalogue


def _problem(plugin: str, spec: JobSpec, catalogue: Catalogue) -> str | None:
    if not JOB_NAME.fullmatch(spec.name):
        return "names are dotted lowercase, like 'plugin.thing'"
    prefix = "core" if plugin.startswith("core.") else plugin
    if spec.name.split(".")[0] != prefix:
        return f"names start with {prefix!r}."
    if spec.name in catalogue.jobs:
        return f"declared twice (also by {catalogue.jobs[spec.name].plugin})"
    if not QUEUE_NAME.fullmatch(spec.queue):
        return f"queue {spec.queue!r} is not a plain name"
    try:
        Schedule(spec.interval_seconds, spec.cron, spec.jitter_seconds)
    except ValueError as exc:
        return str(exc)
    return None
