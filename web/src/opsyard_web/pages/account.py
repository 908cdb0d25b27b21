"""The account page: my API tokens (create, shown once; revoke) and my password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import SESSION_EPOCH_KEY, CurrentPrincipal, DbSession, Portal, Principal
from opsyard.auth import tokens, users
from opsyard.auth.models import ApiToken
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_web.forms import FormState
from opsyard_web.rendering import render, switchable_teams

router = APIRouter(prefix="/account")


@dataclass(frozen=True)
class TokenRow:
    lookup_id: str
    name: str
    team: str | None
    role: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def public_id(self) -> str:
        return f"{tokens.TOKEN_PREFIX}{self.lookup_id}"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"


@router.get("")
def account_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, portal: Portal
) -> Response:
    context = _context(session, principal, portal)
    return render(request, "account.html", context, session=session)


@router.post("/tokens")
def create_token(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    portal: Portal,
    name: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    values = {"name": name, "team": team, "role": role, "expires_in_days": expires_in_days}
    try:
        issued = tokens.issue(
            session,
            user=principal.user,
            name=name,
            team=_visible_team(session, principal, team),
            role=teams.parse_role(role) if role else None,
            expires_in_days=_days(expires_in_days),
            actor=principal.user,
        )
    except OpsyardError as exc:
        session.rollback()
        form = FormState.failed(exc, values)
        context = _context(session, principal, portal, token_form=form)
        return _section(request, session, context, "tokens", exc.error.status)
    context = _context(session, principal, portal)
    context["issued"] = {"plaintext": issued.plaintext, "name": issued.token.name}
    # The plaintext is in this answer only; the page itself never shows it again.
    return _section(request, session, context, "tokens", 200)


@router.post("/tokens/{lookup_id}/revoke")
def revoke_token(
    request: Request,
    lookup_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    portal: Portal,
) -> Response:
    token = tokens.get_by_lookup_id(session, lookup_id)
    if token is None or token.user_id != principal.user.id:
        raise OpsyardError(errors.NOT_FOUND, f"You have no token {lookup_id!r}.")
    tokens.revoke(session, token, actor=principal.user)
    form = _blank_token_form(portal)
    form.done = f"Token {tokens.TOKEN_PREFIX}{token.lookup_id} is revoked."
    context = _context(session, principal, portal, token_form=form)
    return _section(request, session, context, "tokens", 200)


@router.post("/password")
def change_password(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    portal: Portal,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
) -> Response:
    user = principal.user
    settings = portal.settings
    try:
        users.authenticate(
            session,
            email=user.email,
            password=current_password,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        )
    except OpsyardError as exc:
        # Not rolled back: a wrong current password counts towards the lockout, so this
        # form cannot be used to guess the password of a session left open.
        form = FormState.failed(exc)
        if exc.error is errors.LOGIN_FAILED:
            form = FormState(
                errors={"current_password": "This is not your current password."},
                message="The password was not changed.",
            )
        context = _context(session, principal, portal, password_form=form)
        return _section(request, session, context, "password", exc.error.status)
    try:
        users.set_password(session, user, new_password, actor=user)
    except OpsyardError as exc:
        session.rollback()
        form = FormState.failed(exc, renamed={"password": "new_password"})
        context = _context(session, principal, portal, password_form=form)
        return _section(request, session, context, "password", exc.error.status)
    # The new password ends every other session (core bumps the epoch); this one stays.
    request.session[SESSION_EPOCH_KEY] = user.session_epoch
    done = FormState(done="Your password is changed. Other sessions have been signed out.")
    context = _context(session, principal, portal, password_form=done)
    return _section(request, session, context, "password", 200)


def _context(
    session: Session,
    principal: Principal,
    portal: Portal,
    *,
    token_form: FormState | None = None,
    password_form: FormState | None = None,
) -> dict[str, Any]:
    visible = [team for team, _ in switchable_teams(session, principal)]
    slugs = {team.id: team.slug for team in visible}
    rows = [_row(session, token, slugs) for token in tokens.list_for_user(session, principal.user)]
    return {
        "tokens": rows,
        "team_options": [("", "All my teams"), *((t.slug, t.name) for t in visible)],
        "role_options": [("", "My own role"), *((r.value, r.value) for r in reversed(Role))],
        "token_form": token_form or _blank_token_form(portal),
        "password_form": password_form or FormState(),
        "max_expiry_days": tokens.MAX_EXPIRY_DAYS,
        "issued": None,
    }


def _row(session: Session, token: ApiToken, slugs: dict[int, str]) -> TokenRow:
    team = None
    if token.team_id is not None:
        team = slugs.get(token.team_id)
        if team is None:
            found = session.get(Team, token.team_id)
            team = found.slug if found else None
    return TokenRow(
        lookup_id=token.lookup_id,
        name=token.name,
        team=team,
        role=token.role,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def _blank_token_form(portal: Portal) -> FormState:
    return FormState(values={"expires_in_days": str(portal.settings.token_default_expiry_days)})


def _visible_team(session: Session, principal: Principal, slug: str) -> Team | None:
    """The team a new token is limited to; one the user cannot see is refused like the API
    does, without saying whether it exists."""
    if not slug:
        return None
    team = teams.get_by_slug(session, slug)
    if team is None or principal.role_in(session, team) is None:
        raise OpsyardError(
            errors.NOT_FOUND,
            f"No team {slug!r}.",
            fields=[FieldProblem("/team", "Pick one of your teams, or none.")],
        )
    return team


def _days(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{value!r} is not a number of days.",
            fields=[FieldProblem("/expires_in_days", "Give a whole number of days, e.g. 90.")],
        ) from None


def _section(
    request: Request,
    session: Session,
    context: dict[str, Any],
    block: str,
    status_code: int,
) -> HTMLResponse:
    return render(
        request,
        "account.html",
        context,
        block_name=block,
        status_code=status_code,
        session=session,
    )
