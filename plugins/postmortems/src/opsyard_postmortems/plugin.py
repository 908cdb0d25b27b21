"""The post-mortems plugin's hook implementations: what it contributes to the portal."""

from __future__ import annotations

from pathlib import Path

import click
from fastapi import APIRouter
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import ErrorCode
from opsyard.extension import EventType, InboundDelivery, JobSpec, NavItem, PluginInfo, Widget
from opsyard.hookspecs import hookimpl
from opsyard.roles import Role
from opsyard.teams.models import Team
from opsyard_postmortems import models as _models  # noqa: F401  (registers the tables)
from opsyard_postmortems.errors import ERROR_CODES
from opsyard_postmortems.events import EVENT_TYPES
from opsyard_postmortems.jobs import JOBS


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Post-mortems",
        description="At most three owned action items per post-mortem, escalated or "
        "deprioritized after two sprints.",
    )


@hookimpl
def api_router() -> APIRouter:
    # Imported when the app is built: a router that fails to import is skipped by core
    # without taking the plugin's tables and other hooks down with it.
    from opsyard_postmortems.api import router

    return router


@hookimpl
def web_router() -> APIRouter:
    from opsyard_postmortems.pages import router

    return router


@hookimpl
def navigation_items(team: Team, role: Role) -> list[NavItem]:
    # Everyone in the team may read the settings; the page offers the form to owners only.
    return [
        NavItem("Post-mortems"),
        NavItem("My action items", path="mine"),
        NavItem("Follow-through", path="dashboard"),
        NavItem("Post-mortem settings", path="settings"),
    ]


@hookimpl
def dashboard_widgets(session: Session, team: Team, user: User) -> list[Widget]:
    from opsyard_postmortems.widgets import follow_through_widget

    return [follow_through_widget(session, team=team, user=user, now=utcnow())]


@hookimpl
def cli_commands() -> list[click.Command]:
    from opsyard_postmortems.cli import postmortems_cli

    return [postmortems_cli]


@hookimpl
def alembic_version_location() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def error_codes() -> list[ErrorCode]:
    return list(ERROR_CODES)


@hookimpl
def event_types() -> list[EventType]:
    return list(EVENT_TYPES)


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    return list(JOBS)


@hookimpl
def handle_inbound_webhook(delivery: InboundDelivery, portal: PortalContext) -> bool:
    # Imported when a delivery arrives: the integrations use the service modules, which the
    # scheduler and the migrations do not need.
    from opsyard_postmortems import integrations

    return integrations.handle_inbound_webhook(delivery, portal)


@hookimpl
def demo_data(session: Session, team: Team, users: dict[str, User], portal: PortalContext) -> None:
    from opsyard_postmortems import demo

    demo.load(session, portal=portal, team=team, users=users)
