"""``opsyard tokens``: API tokens. The secret is printed once, at creation, and never again."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.auth import tokens as token_service
from opsyard.auth import users as user_service
from opsyard.auth.models import ApiToken, User
from opsyard.cli.output import print_rows
from opsyard.cli.runtime import transaction
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as team_service
from opsyard.teams.models import Team

ROLE_CHOICE = click.Choice([role.value for role in Role])


@click.group()
def tokens() -> None:
    """API tokens: create, list, revoke."""


@tokens.command()
@click.option("--user", "email", required=True, metavar="EMAIL", help="Whose token it is.")
@click.option("--team", "slug", metavar="SLUG", help="Limit the token to this team.")
@click.option("--role", type=ROLE_CHOICE, help="Cap the token's role in --team.")
@click.option(
    "--expires-in", "days", type=int, metavar="DAYS", help="Days until it expires [default: 90]."
)
@click.option("--name", default="", help="What the token is for.")
def create(email: str, slug: str | None, role: str | None, days: int | None, name: str) -> None:
    """Create a token and print it alone on stdout (it is not shown again).

    \b
    Example:  export OPSYARD_TOKEN=$(opsyard tokens create --user ana@example.com)
    """
    with transaction() as (ctx, session):
        user = user_service.require_by_email(session, email)
        if not user.is_active:
            raise OpsyardError(errors.VALIDATION_FAILED, f"{user.email} is deactivated.")
        team = _team_of(session, user, slug) if slug else None
        issued = token_service.issue(
            session,
            user=user,
            name=name,
            team=team,
            role=Role(role) if role else None,
            expires_in_days=days if days is not None else ctx.settings.token_default_expiry_days,
            actor=None,
        )
        plaintext = issued.plaintext
        lookup_id = issued.token.lookup_id
    # Only the token goes to stdout, so `$(opsyard tokens create ...)` captures it exactly.
    click.echo(plaintext)
    if sys.stderr is not None and sys.stderr.isatty():
        click.echo(f"token {lookup_id} created; store it now, it is not shown again", err=True)


def _team_of(session: Session, user: User, slug: str) -> Team:
    team = team_service.require_by_slug(session, slug)
    if not user.is_admin and team_service.membership(session, team=team, user=user) is None:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{user.email} is not a member of {slug}; add them with 'opsyard teams add-member'.",
        )
    return team


def _status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    return "active"


@tokens.command("list")
@click.option("--user", "email", metavar="EMAIL", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(email: str | None, as_json: bool) -> None:
    """List tokens (never their secrets), newest first."""
    with transaction() as (_, session):
        if email:
            found = token_service.list_for_user(
                session, user_service.require_by_email(session, email)
            )
        else:
            found = token_service.list_all(session)
        emails = {user.id: user.email for user in user_service.list_users(session)}
        slugs = {team.id: team.slug for team in team_service.list_teams(session)}
        rows: list[dict[str, Any]] = [
            {
                "id": token.lookup_id,
                "user": emails.get(token.user_id),
                "name": token.name,
                "team": slugs.get(token.team_id) if token.team_id is not None else None,
                "role": token.role,
                "status": _status(token),
                "created_at": token.created_at,
                "expires_at": token.expires_at,
                "last_used_at": token.last_used_at,
                "revoked_at": token.revoked_at,
            }
            for token in found
        ]
    columns = [
        ("id", "ID"),
        ("user", "USER"),
        ("name", "NAME"),
        ("team", "TEAM"),
        ("role", "ROLE"),
        ("status", "STATUS"),
        ("expires_at", "EXPIRES"),
        ("last_used_at", "LAST USED"),
    ]
    print_rows(rows, columns, as_json=as_json, empty="no tokens")


@tokens.command()
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token, by the ID shown in 'opsyard tokens list' (or the whole token)."""
    with transaction() as (_, session):
        token = token_service.get_by_lookup_id(session, token_id)
        if token is None:
            # Name only the public part: the argument may be a whole token, secret included.
            public = token_id.removeprefix(token_service.TOKEN_PREFIX).partition("_")[0]
            raise OpsyardError(errors.NOT_FOUND, f"No token {public!r}; see 'opsyard tokens list'.")
        was_live = token.revoked_at is None
        token_service.revoke(session, token, actor=None)
        lookup_id = token.lookup_id
    click.echo(
        f"revoked token {lookup_id}" if was_live else f"token {lookup_id} was already revoked"
    )
