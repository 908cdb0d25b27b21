"""A team's settings page: members and plugins. Changes live in members.py and
plugin_switches.py; this module shows the page and builds what it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamContext
from opsyard.calendars import service as calendars
from opsyard.calendars.api import calendar_out
from opsyard.db.base import utcnow
from opsyard.plugins import PluginRegistry
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_web.forms import FormState
from opsyard_web.rendering import render

router = APIRouter()


@dataclass(frozen=True)
class PluginRow:
    name: str
    title: str
    description: str
    enabled: bool


def plugin_rows(registry: PluginRegistry, session: Session, team: Team) -> list[PluginRow]:
    enabled = teams.enabled_plugins(session, team)
    rows = []
    for name in registry.names:
        info = registry.info(name)
        rows.append(PluginRow(name, info.title, info.description, name in enabled))
    return rows


def settings_context(
    registry: PluginRegistry,
    session: Session,
    access: TeamContext,
    *,
    member_form: FormState | None = None,
    calendar_form: FormState | None = None,
) -> dict[str, Any]:
    """Everything the settings page shows. `can_manage` only decides which controls appear;
    every change is checked again by its own route (TeamOwner)."""
    return {
        "members": teams.members(session, access.team),
        "plugins": plugin_rows(registry, session, access.team),
        "failed_plugins": sorted(registry.failures.items()),
        "can_manage": access.role.allows(Role.OWNER),
        "roles": list(reversed(Role)),
        "role_options": [(role.value, role.value) for role in reversed(Role)],
        "member_form": member_form or FormState(values={"role": Role.MEMBER.value}),
        "calendar": calendar_out(session, team=access.team, today=utcnow().date()),
        "calendar_form": calendar_form or _calendar_form(session, access.team),
    }


def _calendar_form(session: Session, team: Team) -> FormState:
    """The calendar form filled with what the team has set."""
    view = calendars.describe(session, team=team)
    lines = "\n".join(f"{s.name}, {s.starts_on}, {s.ends_on}" for s in view.listed)
    return FormState(
        values={
            "mode": view.mode,
            "length_days": str(view.length_days or calendars.DEFAULT_LENGTH_DAYS),
            "anchor_on": str(view.anchor_on or calendars.DEFAULT_ANCHOR),
            "sprints": lines,
        }
    )


@router.get("/t/{team}/settings")
def settings_page(
    request: Request, access: TeamAccess, session: DbSession, portal: Portal
) -> Response:
    context = settings_context(portal.registry, session, access)
    return render(request, "team_settings.html", context, session=session)
