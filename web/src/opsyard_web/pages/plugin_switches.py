"""Team owners switching plugins on and off from the settings page.

The switch is a self-replacing htmx component; its answer also carries the team navigation
as an out-of-band swap, so the plugin's entries appear or vanish at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opsyard import errors
from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.errors import OpsyardError
from opsyard.teams import service as teams
from opsyard_web.htmx import is_htmx
from opsyard_web.pages.team_settings import plugin_rows
from opsyard_web.rendering import render

router = APIRouter()


@router.post("/t/{team}/settings/plugins/{plugin}")
def switch_plugin(
    request: Request,
    plugin: str,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    if not portal.registry.is_installed(plugin):
        raise OpsyardError(errors.PLUGIN_NOT_INSTALLED, f"No plugin {plugin!r} is installed.")
    if enabled not in ("true", "false"):
        raise OpsyardError(errors.VALIDATION_FAILED, "Say enabled=true or enabled=false.")
    if enabled == "true":
        teams.enable_plugin(session, team=access.team, plugin=plugin, actor=access.user)
    else:
        teams.disable_plugin(session, team=access.team, plugin=plugin, actor=access.user)
    session.flush()
    if not is_htmx(request):
        return RedirectResponse(f"/t/{access.team.slug}/settings", status_code=303)
    row = next(r for r in plugin_rows(portal.registry, session, access.team) if r.name == plugin)
    context = {"plugin": row, "can_manage": True}
    return render(request, "partials/plugin_switch_response.html", context, session=session)
