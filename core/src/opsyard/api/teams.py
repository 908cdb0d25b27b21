"""/api/v1/teams: teams and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from opsyard import errors
from opsyard.api.deps import CurrentPrincipal, DbSession, TeamAccess, TeamOwner
from opsyard.api.schemas import MemberAdd, MemberOut, MemberPut, TeamCreate, TeamOut
from opsyard.auth import users
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Membership

router = APIRouter(prefix="/teams", tags=["teams"])


def _member_out(member: Membership) -> MemberOut:
    return MemberOut(
        email=member.user.email,
        name=member.user.name,
        role=Role(member.role),
        since=member.created_at,
    )


@router.get("", response_model=list[TeamOut])
def list_teams(session: DbSession, principal: CurrentPrincipal) -> list[TeamOut]:
    """The teams the caller belongs to (every team, for site admins)."""
    if principal.is_admin:
        mine = dict((t.id, r) for t, r in teams.teams_of(session, principal.user))
        return [
            TeamOut(slug=t.slug, name=t.name, created_at=t.created_at, role=mine.get(t.id))
            for t in teams.list_teams(session)
        ]
    found = teams.teams_of(session, principal.user)
    if principal.token is not None and principal.token.team_id is not None:
        found = [(t, r) for t, r in found if t.id == principal.token.team_id]
    return [TeamOut(slug=t.slug, name=t.name, created_at=t.created_at, role=r) for t, r in found]


@router.post("", response_model=TeamOut, status_code=status.HTTP_201_CREATED)
def create_team(body: TeamCreate, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    """Create a team; the caller becomes its owner."""
    if principal.token is not None and principal.token.team_id is not None:
        raise OpsyardError(errors.FORBIDDEN, "A token limited to one team cannot create teams.")
    team = teams.create_team(
        session, slug=body.slug, name=body.name, owner=principal.user, actor=principal.user
    )
    return TeamOut(slug=team.slug, name=team.name, created_at=team.created_at, role=Role.OWNER)


@router.get("/{team}", response_model=TeamOut)
def get_team(access: TeamAccess) -> TeamOut:
    t = access.team
    return TeamOut(slug=t.slug, name=t.name, created_at=t.created_at, role=access.role)


@router.get("/{team}/members", response_model=list[MemberOut])
def list_members(access: TeamAccess, session: DbSession) -> list[MemberOut]:
    return [_member_out(m) for m in teams.members(session, access.team)]


@router.post("/{team}/members", response_model=MemberOut, status_code=status.HTTP_201_CREATED)
def add_member(body: MemberAdd, access: TeamOwner, session: DbSession) -> MemberOut:
    """Add a user to the team (owners only); an existing member gets the new role."""
    user = users.require_by_email(session, body.email)
    member = teams.add_member(
        session, team=access.team, user=user, role=body.role, actor=access.user
    )
    return _member_out(member)


@router.put("/{team}/members/{email}", response_model=MemberOut)
def set_member_role(
    email: str, body: MemberPut, access: TeamOwner, session: DbSession
) -> MemberOut:
    """Change a member's role (owners only). The last owner cannot be demoted."""
    user = users.require_by_email(session, email)
    member = teams.membership(session, team=access.team, user=user)
    if member is None:
        raise OpsyardError(errors.NOT_FOUND, f"{email} is not a member of {access.team.slug}.")
    teams.set_role(session, member, body.role, actor=access.user)
    return _member_out(member)


@router.delete("/{team}/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(email: str, access: TeamOwner, session: DbSession) -> Response:
    """Remove a member (owners only). The last owner cannot be removed."""
    user = users.require_by_email(session, email)
    teams.remove_member(session, team=access.team, user=user, actor=access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
