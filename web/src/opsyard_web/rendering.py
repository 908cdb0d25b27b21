"""``render``: how the shell and plugins turn a template into a page or an htmx fragment.

Every page gets the same surroundings without its handler asking for them: the signed-in
user, the team named in the path and the user's role in it, the team navigation, the teams
for the switcher and the CSRF token. A page template is one file with named blocks; an
htmx request that targets a block gets only that block (jinja2-fragments).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from jinja2_fragments import render_block
from sqlalchemy.orm import Session

from opsyard.api.deps import Principal, optional_principal, portal, request_session
from opsyard.auth.models import User
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_web.csrf import csrf_token
from opsyard_web.htmx import is_page_load, target_id
from opsyard_web.navigation import NavLink, team_navigation
from opsyard_web.responses import html_response
from opsyard_web.templating import ENVIRONMENT_STATE


@dataclass(frozen=True)
class Chrome:
    """What surrounds every page: who is looking, at which team, and where they can go."""

    user: User | None = None
    is_admin: bool = False
    team: Team | None = None
    role: Role | None = None
    nav: list[NavLink] = field(default_factory=list)
    my_teams: list[tuple[Team, Role | None]] = field(default_factory=list)

    def as_context(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "is_admin": self.is_admin,
            "team": self.team,
            "role": self.role,
            "nav": self.nav,
            "my_teams": self.my_teams,
        }


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    block_name: str | None = None,
    status_code: int = 200,
    session: Session | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render `template_name` as a page, or only one of its blocks for an htmx request.

    The block is `block_name` when given, otherwise the block named like the element the
    request targets (``hx-target="#members"`` renders ``{% block members %}``); a normal or
    boosted request always gets the whole page. Values in `context` override the shell's.
    It reads through the request's own transaction (`session`, or the one core's DbSession
    dependency opened), so the page shows what the handler just changed.

    Call it from sync handlers: plugin hooks may return awaitables, resolved with asyncio.
    """
    environment: Environment = getattr(request.app.state, ENVIRONMENT_STATE)
    with _reading(request, session) as reader:
        values: dict[str, Any] = {
            **page_chrome(request, reader).as_context(),
            "request": request,
            "csrf_token": csrf_token(request),
            **(context or {}),
        }
        block = _block_for(request, environment, template_name, block_name)
        if block is None:
            body = environment.get_template(template_name).render(values)
        else:
            body = render_block(environment, template_name, block, values)
    return html_response(body, status_code, headers)


def page_chrome(request: Request, session: Session) -> Chrome:
    principal = _principal(request, session)
    if principal is None:
        return Chrome()
    team, role = _team_in_path(request, session, principal)
    nav: list[NavLink] = []
    if team is not None and role is not None:
        registry = portal(request).registry
        nav = team_navigation(registry, session, team=team, role=role, path=request.url.path)
    return Chrome(
        user=principal.user,
        is_admin=principal.is_admin,
        team=team,
        role=role,
        nav=nav,
        my_teams=switchable_teams(session, principal),
    )


def switchable_teams(session: Session, principal: Principal) -> list[tuple[Team, Role | None]]:
    """The user's teams with their role; site admins may enter every team, so they get all."""
    mine = teams.teams_of(session, principal.user)
    if not principal.is_admin:
        return list(mine)
    roles = {team.id: role for team, role in mine}
    return [(team, roles.get(team.id)) for team in teams.list_teams(session)]


def _principal(request: Request, session: Session) -> Principal | None:
    try:
        return optional_principal(request, session)
    except OpsyardError:
        # A bad token was already refused by the route's own dependencies, if it needed
        # one; a page that does not (the login form) is simply shown to nobody in particular.
        return None


def _team_in_path(
    request: Request, session: Session, principal: Principal
) -> tuple[Team | None, Role | None]:
    slug = request.path_params.get("team")
    if not isinstance(slug, str):
        return None, None
    team = teams.get_by_slug(session, slug)
    role = principal.role_in(session, team) if team is not None else None
    return (team, role) if role is not None else (None, None)


def _block_for(
    request: Request, environment: Environment, template_name: str, block_name: str | None
) -> str | None:
    if is_page_load(request):
        return None
    if block_name is not None:
        return block_name
    target = target_id(request)
    if target and target in environment.get_template(template_name).blocks:
        return target
    return None


@contextmanager
def _reading(request: Request, session: Session | None) -> Iterator[Session]:
    shared = session or request_session(request)
    if shared is not None:
        yield shared
        return
    # Only when called outside a request's transaction. Reading must not write: resolving a
    # Bearer token again marks it used, and flushing that would wait on the request's own
    # SQLite write lock.
    own = portal(request).sessions()
    try:
        with own.no_autoflush:
            yield own
    finally:
        own.rollback()
        own.close()
