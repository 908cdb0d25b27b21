"""Teams, memberships and per-team plugin switches."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.errors import ErrorCode, FieldProblem, OpsyardError
from opsyard.roles import Role
from opsyard.teams.models import Membership, Team, TeamPlugin

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{slug!r} is not a valid team slug.",
            fields=[
                FieldProblem(
                    "/slug",
                    "Use 1 to 64 lowercase letters, digits and inner hyphens, e.g. 'payments'.",
                )
            ],
        )
    return slug


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{value!r} is not a role.",
            fields=[FieldProblem("/role", "Use one of: owner, member, viewer.")],
        ) from exc


def create_team(
    session: Session, *, slug: str, name: str = "", owner: User | None, actor: User | None
) -> Team:
    """Create a team; `owner`, when given, becomes its first owner."""
    check_slug(slug)
    if get_by_slug(session, slug) is not None:
        raise OpsyardError(
            errors.CONFLICT,
            f"A team with slug {slug!r} already exists.",
            fields=[FieldProblem("/slug", "Choose another slug.")],
        )
    team = Team(slug=slug, name=name.strip() or slug)
    session.add(team)
    session.flush()
    audit.record(session, actor=actor, action="team.created", target=slug, team_id=team.id)
    if owner is not None:
        add_member(session, team=team, user=owner, role=Role.OWNER, actor=actor)
    return team


def get_by_slug(session: Session, slug: str) -> Team | None:
    return session.scalar(select(Team).where(Team.slug == slug))


def require_by_slug(session: Session, slug: str) -> Team:
    team = get_by_slug(session, slug)
    if team is None:
        raise OpsyardError(errors.NOT_FOUND, f"No team {slug!r}.")
    return team


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.slug)))


def teams_of(session: Session, user: User) -> list[tuple[Team, Role]]:
    """The teams `user` belongs to, with the role held in each, by slug."""
    query = (
        select(Team, Membership.role)
        .join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user.id)
        .order_by(Team.slug)
    )
    return [(team, Role(role)) for team, role in session.execute(query)]


def membership(session: Session, *, team: Team, user: User) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)
    )


def members(session: Session, team: Team) -> list[Membership]:
    query = select(Membership).where(Membership.team_id == team.id).order_by(Membership.id)
    return list(session.scalars(query))


def add_member(
    session: Session, *, team: Team, user: User, role: Role, actor: User | None
) -> Membership:
    """Add `user` to `team`, or change their role when they already belong to it."""
    existing = membership(session, team=team, user=user)
    if existing is not None:
        set_role(session, existing, role, actor=actor)
        return existing
    member = Membership(team_id=team.id, user_id=user.id, role=role.value)
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="team.member_added",
        target=user.email,
        team_id=team.id,
        detail={"role": role.value},
    )
    return member


def _owner_count(session: Session, team_id: int) -> int:
    query = select(func.count()).where(
        Membership.team_id == team_id, Membership.role == Role.OWNER.value
    )
    return session.scalar(query) or 0


def set_role(session: Session, member: Membership, role: Role, *, actor: User | None) -> None:
    if member.role == role.value:
        return
    if member.role == Role.OWNER.value and _owner_count(session, member.team_id) <= 1:
        raise OpsyardError(errors.LAST_OWNER)
    previous = member.role
    member.role = role.value
    audit.record(
        session,
        actor=actor,
        action="team.role_changed",
        target=member.user.email,
        team_id=member.team_id,
        detail={"from": previous, "to": role.value},
    )


def remove_member(session: Session, *, team: Team, user: User, actor: User | None) -> None:
    member = membership(session, team=team, user=user)
    if member is None:
        raise OpsyardError(errors.NOT_FOUND, f"{user.email} is not a member of {team.slug}.")
    if member.role == Role.OWNER.value and _owner_count(session, team.id) <= 1:
        raise OpsyardError(errors.LAST_OWNER)
    session.delete(member)
    audit.record(
        session, actor=actor, action="team.member_removed", target=user.email, team_id=team.id
    )


def enabled_plugins(session: Session, team: Team) -> set[str]:
    query = select(TeamPlugin.plugin).where(TeamPlugin.team_id == team.id)
    return set(session.scalars(query))


def is_enabled(session: Session, team: Team, plugin: str) -> bool:
    return session.get(TeamPlugin, (team.id, plugin)) is not None


def enable_plugin(session: Session, *, team: Team, plugin: str, actor: User | None) -> bool:
    """Switch `plugin` on for `team`; returns False when it already was."""
    if is_enabled(session, team, plugin):
        return False
    session.add(
        TeamPlugin(team_id=team.id, plugin=plugin, enabled_by_id=actor.id if actor else None)
    )
    audit.record(session, actor=actor, action="plugin.enabled", target=plugin, team_id=team.id)
    return True


def disable_plugin(session: Session, *, team: Team, plugin: str, actor: User | None) -> bool:
    """Switch `plugin` off for `team`; its data stays, so switching back on restores it."""
    row = session.get(TeamPlugin, (team.id, plugin))
    if row is None:
        return False
    session.delete(row)
    audit.record(session, actor=actor, action="plugin.disabled", target=plugin, team_id=team.id)
    return True


def require_member(
    session: Session,
    *,
    team: Team,
    user_id: int,
    error: ErrorCode,
    pointer: str,
    at_least: Role = Role.MEMBER,
) -> User:
    """The user `user_id` if they hold at least `at_least` in `team`, else `error` naming
    the field at `pointer`. Unknown ids get the same answer as outsiders, so nobody learns
    who has an account elsewhere; the default leaves viewers out, as they cannot take on work."""
    user = session.get(User, user_id)
    member = membership(session, team=team, user=user) if user is not None else None
    if user is None or member is None or not Role(member.role).allows(at_least):
        who = "a member" if at_least is Role.VIEWER else f"at least {at_least.value}"
        raise OpsyardError(
            error,
            f"User {user_id} is not {who} of {team.slug}.",
            fields=[FieldProblem(pointer, f"Choose someone who is {who} of {team.slug}.")],
        )
    return user
