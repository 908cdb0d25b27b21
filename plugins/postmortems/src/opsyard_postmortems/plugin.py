"""The post-mortems plugin's hook implementations: what it contributes to the portal."""

from __future__ import annotations

from pathlib import Path

from opsyard.errors import ErrorCode
from opsyard.extension import EventType, PluginInfo
from opsyard.hookspecs import hookimpl
from opsyard_postmortems import models as _models  # noqa: F401  (registers the tables)
from opsyard_postmortems.errors import ERROR_CODES
from opsyard_postmortems.events import EVENT_TYPES


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Post-mortems",
        description="At most three owned action items per post-mortem, escalated or "
        "deprioritized after two sprints.",
    )


@hookimpl
def alembic_version_location() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def error_codes() -> list[ErrorCode]:
    return list(ERROR_CODES)


@hookimpl
def event_types() -> list[EventType]:
    return list(EVENT_TYPES)
