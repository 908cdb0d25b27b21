"""The dashboard (my teams) and creating a team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opsyard import errors
from opsyard.api.deps import CurrentPrincipal, DbSession, Principal
from opsyard.errors import OpsyardError
from opsyard.teams import service as teams
from opsyard_web.forms import FormState
from opsyard_web.rendering import render, switchable_teams

router = APIRouter()


@router.get("/")
def dashboard(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The user's teams; site admins see every team."""
    context = {"teams": switchable_teams(session, principal)}
    return render(request, "dashboard.html", context, session=session)


@router.get("/teams/new")
def new_team_form(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    _may_create_teams(principal)
    return render(request, "team_new.html", {"form": FormState()}, session=session)


@router.post("/teams/new")
def create_team(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    slug: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    _may_create_teams(principal)
    try:
        team = teams.create_team(
            session,
            slug=slug.strip(),
            name=name,
            owner=principal.user,
            actor=principal.user,
        )
    except OpsyardError as exc:
        session.rollback()
        form = FormState.failed(exc, {"slug": slug, "name": name})
        return render(
            request,
            "team_new.html",
            {"form": form},
            status_code=exc.error.status,
            session=session,
        )
    return RedirectResponse(f"/t/{team.slug}/", status_code=303)


def _may_create_teams(principal: Principal) -> None:
    # Same rule as the API: a token limited to one team acts only within that team.
    if principal.token is not None and principal.token.team_id is not None:
        raise OpsyardError(errors.FORBIDDEN, "A token limited to one team cannot create teams.")
