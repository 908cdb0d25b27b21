"""The values plugins hand to core through hooks.

Each is a small frozen dataclass so a plugin author can see at a glance what core expects.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from opsyard.db.base import utcnow
from opsyard.roles import Role

if TYPE_CHECKING:
    from opsyard.context import PortalContext

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class PluginInfo:
    """How a plugin presents itself on the team settings page."""

    title: str
    description: str = ""


@dataclass(frozen=True)
class NavItem:
    """An entry in a team's navigation. `path` is relative to the plugin's pages
    (``""`` is ``/t/{team}/{plugin}/``); `min_role` hides it from weaker roles."""

    label: str
    path: str = ""
    min_role: Role = Role.VIEWER


@dataclass(frozen=True)
class Widget:
    """A panel on the team dashboard. `html` is inserted as is, so render it with the
    plugin's templates (autoescaped) rather than by string formatting."""

    title: str
    html: str
    order: int = 100


@dataclass(frozen=True)
class JobContext:
    """What a job run receives: the instant it runs as of (``opsyard jobs run --at`` replays
    another instant), the portal (settings, database sessions, plugins), the team for
    per-team jobs, and the location: the one the run is for when the job is ``per_location``,
    otherwise the location of the process running it (``OPSYARD_LOCATION``)."""

    at: datetime
    portal: PortalContext
    team_slug: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job. Exactly one of `interval_seconds` and `cron` is set.

    `per_location` runs it once per location per slot, each run on its location's queue
    ``loc.<name>`` (the locations are ``OPSYARD_LOCATIONS``); `queue` is then left alone.
    """

    name: str
    run: Callable[[JobContext], None]
    interval_seconds: int | None = None
    cron: str | None = None
    jitter_seconds: int = 0
    queue: str = "default"
    per_team: bool = False
    time_limit_seconds: int = 300
    per_location: bool = False

    def __post_init__(self) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError(f"job {self.name!r}: set exactly one of interval_seconds and cron")
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise ValueError(f"job {self.name!r}: interval_seconds must be positive")
        if self.time_limit_seconds <= 0:
            raise ValueError(f"job {self.name!r}: time_limit_seconds must be positive")
        if self.per_location and self.queue != "default":
            raise ValueError(f"job {self.name!r}: per_location jobs use the loc.<name> queues")


@dataclass(frozen=True)
class EventType:
    """A domain event a plugin emits: its dotted name and the schema of its payload."""

    name: str
    payload: type[BaseModel]
    description: str = ""

    def __post_init__(self) -> None:
        if not EVENT_NAME.fullmatch(self.name):
            raise ValueError(
                f"event name {self.name!r} must be dotted lowercase, like 'plugin.thing.happened'"
            )


@dataclass(frozen=True)
class Event:
    """One occurrence of an event type, for one team."""

    name: str
    team_slug: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")
    occurred_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class InboundDelivery:
    """A verified webhook from another tool, addressed to one team's integration."""

    provider: str
    team_slug: str
    delivery_id: str
    event: str
    payload: dict[str, Any]
    received_at: datetime = field(default_factory=utcnow)
