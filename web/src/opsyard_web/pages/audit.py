"""The audit log: one team's (its owners and site admins) and the whole site's (site admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsyard.api.deps import AdminPrincipal, DbSession, TeamOwner
from opsyard.audit import service as audit
from opsyard.teams import service as teams
from opsyard_web.rendering import render

router = APIRouter()

SHOWN = 200


@router.get("/t/{team}/audit")
def team_audit(request: Request, access: TeamOwner, session: DbSession) -> Response:
    entries = audit.list_entries(session, team_id=access.team.id, limit=SHOWN)
    context = {"entries": entries, "team_slugs": {}, "site_wide": False, "limit": SHOWN}
    return render(request, "audit.html", context, session=session)


@router.get("/admin/audit")
def site_audit(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    entries = audit.list_entries(session, limit=SHOWN)
    slugs = {team.id: team.slug for team in teams.list_teams(session)}
    context = {"entries": entries, "team_slugs": slugs, "site_wide": True, "limit": SHOWN}
    return render(request, "audit.html", context, session=session)
