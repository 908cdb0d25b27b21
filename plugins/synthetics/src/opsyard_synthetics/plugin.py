"""The synthetics plugin's hook implementations: what it contributes to the portal."""

from __future__ import annotations

from pathlib import Path

import click
from fastapi import APIRouter
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import ErrorCode
from opsyard.extension import EventType, JobSpec, NavItem, PluginInfo, Widget
from opsyard.hookspecs import hookimpl
from opsyard.roles import Role
from opsyard.teams.models import Team
from opsyard_synthetics import models as _models  # noqa: F401  (registers the tables)


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Synthetic checks",
        description="Scripted checks of critical paths from many locations; the on-call "
        "engineer is paged when enough of them see a path degrade.",
    )


@hookimpl
def alembic_version_location() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def web_router() -> APIRouter:
    from opsyard_synthetics.pages import router

    return router


@hookimpl
def navigation_items(team: Team, role: Role) -> list[NavItem]:
    # Everyone in the team may read every page; the forms are offered to those who may act.
    return [
        NavItem("Synthetic checks"),
        NavItem("Checks as code", path="code"),
        NavItem("Maintenance windows", path="maintenance"),
        NavItem("Secrets", path="secrets"),
        NavItem("Synthetics settings", path="settings"),
    ]


@hookimpl
def dashboard_widgets(session: Session, team: Team, user: User) -> list[Widget]:
    from opsyard_synthetics.pages import status_widget

    return [status_widget(session, team=team, user=user, now=utcnow())]


@hookimpl
def demo_data(session: Session, team: Team, users: dict[str, User], portal: PortalContext) -> None:
    from opsyard_synthetics import demo

    demo.load(session, portal=portal, team=team, users=users)


@hookimpl
def api_router() -> APIRouter:
    # Imported when the app is built: a router that fails to import is skipped by core
    # without taking the plugin's tables and other hooks down with it.
    from opsyard_synthetics.api import router

    return router


@hookimpl
def cli_commands() -> list[click.Command]:
    from opsyard_synthetics.cli import synthetics_cli

    return [synthetics_cli]


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    from opsyard_synthetics.jobs import JOBS

    return list(JOBS)


@hookimpl
def error_codes() -> list[ErrorCode]:
    from opsyard_synthetics.errors import ERROR_CODES

    return list(ERROR_CODES)


@hookimpl
def event_types() -> list[EventType]:
    from opsyard_synthetics.events import EVENT_TYPES

    return list(EVENT_TYPES)
