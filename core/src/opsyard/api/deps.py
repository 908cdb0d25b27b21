"""FastAPI dependencies: the database session, who is calling, and what they may touch.

Authorisation lives here, in one place, so every route states its need in its signature:
``TeamAccess`` (any member), ``require_team_role(Role.MEMBER)``, ``require_admin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.auth import tokens
from opsyard.auth.models import ApiToken, User
from opsyard.context import PortalContext
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team

SESSION_USER_KEY = "uid"
SESSION_EPOCH_KEY = "epoch"


def portal(request: Request) -> PortalContext:
    ctx: PortalContext = request.app.state.portal
    return ctx


REQUEST_SESSION_STATE = "db_session"


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler succeeds, rolled back if not.

    The session is also kept on the request, so code that gets only the request (the web
    shell's `render`) reads through the same transaction instead of opening another.
    """
    session = portal(request).sessions()
    setattr(request.state, REQUEST_SESSION_STATE, session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        setattr(request.state, REQUEST_SESSION_STATE, None)
        session.close()


def request_session(request: Request) -> Session | None:
    """The session of the request being served, while its handler runs."""
    session: Session | None = getattr(request.state, REQUEST_SESSION_STATE, None)
    return session


DbSession = Annotated[Session, Depends(db_session, scope="function")]
Portal = Annotated[PortalContext, Depends(portal)]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, and the token they came with, if any."""

    user: User
    token: ApiToken | None = None

    def role_in(self, session: Session, team: Team) -> Role | None:
        """The caller's effective role in `team`, or None when they may not see it at all.

        A token limited to another team sees nothing of this one; a token's role caps the
        user's role; site admins act as owners of every team.
        """
        if self.token is not None and self.token.team_id not in (None, team.id):
            return None
        if self.user.is_admin:
            role: Role | None = Role.OWNER
        else:
            member = teams.membership(session, team=team, user=self.user)
            role = Role(member.role) if member else None
        if role is not None and self.token is not None and self.token.role is not None:
            role = Role.weakest(role, Role(self.token.role))
        return role

    @property
    def is_admin(self) -> bool:
        # A token scoped to one team never carries site-admin powers.
        return self.user.is_admin and (self.token is None or self.token.team_id is None)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """The caller, from a Bearer token or the session cookie; None when anonymous."""
    plaintext = _bearer(request)
    if plaintext is not None:
        token = tokens.resolve(session, plaintext)
        user = session.get(User, token.user_id)
        if user is None or not user.is_active:
            raise OpsyardError(errors.TOKEN_INVALID)
        return Principal(user=user, token=token)
    web_session = request.scope.get("session") or {}
    user_id = web_session.get(SESSION_USER_KEY)
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if (
        user is None
        or not user.is_active
        or web_session.get(SESSION_EPOCH_KEY) != user.session_epoch
    ):
        web_session.clear()
        return None
    return Principal(user=user)


def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise OpsyardError(errors.UNAUTHENTICATED)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise OpsyardError(errors.FORBIDDEN, "Only site admins may do this.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


@dataclass(frozen=True)
class TeamContext:
    """A team the caller may see, with the role they hold in it."""

    team: Team
    role: Role
    principal: Principal

    @property
    def user(self) -> User:
        return self.principal.user

    def require(self, needed: Role) -> None:
        if not self.role.allows(needed):
            raise OpsyardError(
                errors.FORBIDDEN, f"This needs the {needed.value} role in team {self.team.slug}."
            )


def team_access(team: str, session: DbSession, principal: CurrentPrincipal) -> TeamContext:
    """The team named in the path. Unknown teams and teams the caller is not in look the
    same (404), so nobody learns which teams exist."""
    found = teams.get_by_slug(session, team)
    role = principal.role_in(session, found) if found is not None else None
    if found is None or role is None:
        raise OpsyardError(errors.NOT_FOUND, f"No team {team!r}.")
    return TeamContext(team=found, role=role, principal=principal)


TeamAccess = Annotated[TeamContext, Depends(team_access)]


def require_team_role(needed: Role) -> Callable[[TeamContext], TeamContext]:
    """A dependency that lets the request through only with at least `needed` in the team."""

    def check(access: TeamAccess) -> TeamContext:
        access.require(needed)
        return access

    check.__name__ = f"require_team_{needed.value}"
    return check


TeamMember = Annotated[TeamContext, Depends(require_team_role(Role.MEMBER))]
TeamOwner = Annotated[TeamContext, Depends(require_team_role(Role.OWNER))]


def plugin_enabled(plugin: str) -> Callable[[TeamContext, Session], TeamContext]:
    """A dependency for a plugin's routes: 404 unless the team has switched it on."""

    def check(access: TeamAccess, session: DbSession) -> TeamContext:
        if not teams.is_enabled(session, access.team, plugin):
            raise OpsyardError(errors.NOT_FOUND, f"{plugin} is not enabled for this team.")
        return access

    check.__name__ = f"require_{plugin}_enabled"
    return check
