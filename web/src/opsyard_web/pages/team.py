"""A team's home page: the dashboard widgets of its plugins and who is in the team."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from opsyard.api.deps import DbSession, Portal, TeamAccess
from opsyard.extension import Widget
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard_web.rendering import render

router = APIRouter()


@dataclass(frozen=True)
class PlacedWidget:
    plugin: str
    title: str
    html: Markup
    order: int


@router.get("/t/{team}/")
def team_home(request: Request, access: TeamAccess, session: DbSession, portal: Portal) -> Response:
    enabled = teams.enabled_plugins(session, access.team)
    placed = [
        # A widget's html is the plugin's own rendered output: trusted like its pages are.
        PlacedWidget(plugin, widget.title, Markup(widget.html), widget.order)  # noqa: S704
        for plugin, widgets in portal.registry.call_each(
            "dashboard_widgets",
            plugins=enabled,
            session=session,
            team=access.team,
            user=access.user,
        )
        for widget in widgets or []
        if isinstance(widget, Widget)
    ]
    placed.sort(key=lambda w: (w.order, w.plugin, w.title))
    members = teams.members(session, access.team)
    counts = Counter(Role(m.role) for m in members)
    context = {
        "widgets": placed,
        "members": members,
        "role_counts": [(role, counts[role]) for role in reversed(Role) if counts[role]],
    }
    return render(request, "team_home.html", context, session=session)
