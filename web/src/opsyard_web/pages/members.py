"""Team owners adding members, changing their roles and removing them.

Each form swaps the members section of the settings page (``{% block members %}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession, Portal, TeamContext, TeamOwner
from opsyard.auth import users
from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Membership
from opsyard_web.forms import FormState
from opsyard_web.htmx import is_htmx
from opsyard_web.pages.team_settings import settings_context
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/settings/members")


@router.post("")
def add_member(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
) -> Response:
    values = {"email": email, "role": role}

    def change() -> str:
        user = users.get_by_email(session, email) if email.strip() else None
        if user is None:
            raise OpsyardError(
                errors.NOT_FOUND,
                f"No user with email {email.strip()!r}.",
                fields=[FieldProblem("/email", "Give the email of an existing user.")],
            )
        granted = teams.parse_role(role)
        teams.add_member(session, team=access.team, user=user, role=granted, actor=access.user)
        return f"{user.email} is now {granted.value} of {access.team.slug}."

    return _apply(request, access, session, portal, change, values)


@router.post("/{user_id}/role")
def change_role(
    request: Request,
    user_id: int,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    role: Annotated[str, Form()] = "",
) -> Response:
    def change() -> str:
        member = _member(session, access, user_id)
        granted = teams.parse_role(role)
        teams.set_role(session, member, granted, actor=access.user)
        return f"{member.user.email} is now {granted.value}."

    return _apply(request, access, session, portal, change, {"role": "member"})


@router.post("/{user_id}/remove")
def remove_member(
    request: Request, user_id: int, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> str:
        member = _member(session, access, user_id)
        email = member.user.email
        teams.remove_member(session, team=access.team, user=member.user, actor=access.user)
        return f"{email} was removed from {access.team.slug}."

    return _apply(request, access, session, portal, change, {"role": "member"})


def _member(session: Session, access: TeamContext, user_id: int) -> Membership:
    user = session.get(User, user_id)
    member = teams.membership(session, team=access.team, user=user) if user else None
    if member is None:
        raise OpsyardError(errors.NOT_FOUND, f"No such member of {access.team.slug}.")
    return member


def _apply(
    request: Request,
    access: TeamContext,
    session: DbSession,
    portal: Portal,
    change: Callable[[], str],
    values: dict[str, str],
) -> Response:
    """Make `change`; answer with the members section showing the outcome.

    A refused change is rolled back whole and shown beside the form, with the status of the
    error, so nothing half-done is ever committed.
    """
    try:
        done = change()
    except OpsyardError as exc:
        if exc.error.status >= 500:
            raise
        session.rollback()
        form = FormState.failed(exc, values)
        return _members_section(request, access, session, portal, form, exc.error.status)
    session.flush()
    if access.principal.role_in(session, access.team) is None:
        # The owner removed themselves: there is no settings page left to show them.
        return _leave(request, "/")
    form = FormState(values={"role": "member"}, done=done)
    return _members_section(request, access, session, portal, form, 200)


def _members_section(
    request: Request,
    access: TeamContext,
    session: DbSession,
    portal: Portal,
    form: FormState,
    status_code: int,
) -> HTMLResponse:
    context = settings_context(portal.registry, session, access, member_form=form)
    # The role may have just changed (an owner demoting themselves), so ask again.
    role = access.principal.role_in(session, access.team)
    context["can_manage"] = role is not None and role.allows(Role.OWNER)
    return render(
        request,
        "team_settings.html",
        context,
        block_name="members",
        status_code=status_code,
        session=session,
    )


def _leave(request: Request, target: str) -> Response:
    if is_htmx(request):
        return HTMLResponse("", headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
