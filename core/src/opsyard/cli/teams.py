"""``opsyard teams``: teams and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

import click

from opsyard.auth import users as user_service
from opsyard.calendars import service as calendar_service
from opsyard.calendars.sprints import upcoming
from opsyard.cli.output import print_rows
from opsyard.cli.runtime import transaction
from opsyard.db.base import utcnow
from opsyard.roles import Role
from opsyard.teams import service as team_service

ROLE_CHOICE = click.Choice([role.value for role in Role])


@click.group()
def teams() -> None:
    """Teams: create them, list them, manage their members."""


@teams.command()
@click.argument("slug")
@click.option("--name", default="", help="Display name (defaults to the slug).")
@click.option("--owner", "owner_email", metavar="EMAIL", help="Make this user the first owner.")
def create(slug: str, name: str, owner_email: str | None) -> None:
    """Create a team named by SLUG (lowercase letters, digits, hyphens)."""
    with transaction() as (_, session):
        owner = user_service.require_by_email(session, owner_email) if owner_email else None
        team_service.create_team(session, slug=slug, name=name, owner=owner, actor=None)
        owner_address = owner.email if owner else None
    suffix = f" owned by {owner_address}" if owner_address else " (no owner yet)"
    click.echo(f"created team {slug}{suffix}")


@teams.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(as_json: bool) -> None:
    """List every team with its member count and enabled plugins."""
    with transaction() as (_, session):
        rows: list[dict[str, Any]] = [
            {
                "slug": team.slug,
                "name": team.name,
                "members": len(team_service.members(session, team)),
                "plugins": sorted(team_service.enabled_plugins(session, team)),
                "created_at": team.created_at,
            }
            for team in team_service.list_teams(session)
        ]
    columns = [("slug", "SLUG"), ("name", "NAME"), ("members", "MEMBERS"), ("plugins", "PLUGINS")]
    print_rows(rows, columns, as_json=as_json, empty="no teams")


@teams.command("add-member")
@click.argument("slug")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, required=True, help="The role in the team.")
def add_member(slug: str, email: str, role: str) -> None:
    """Add a user to a team, or change the role of one already in it."""
    with transaction() as (_, session):
        team = team_service.require_by_slug(session, slug)
        user = user_service.require_by_email(session, email)
        existing = team_service.membership(session, team=team, user=user)
        previous = existing.role if existing else None
        team_service.add_member(session, team=team, user=user, role=Role(role), actor=None)
        address = user.email
    if previous is None:
        click.echo(f"added {address} to {slug} as {role}")
    elif previous == role:
        click.echo(f"{address} already is {role} of {slug}")
    else:
        click.echo(f"changed {address} in {slug} from {previous} to {role}")


@teams.command("remove-member")
@click.argument("slug")
@click.argument("email")
def remove_member(slug: str, email: str) -> None:
    """Remove a user from a team (a team keeps at least one owner)."""
    with transaction() as (_, session):
        team = team_service.require_by_slug(session, slug)
        user = user_service.require_by_email(session, email)
        team_service.remove_member(session, team=team, user=user, actor=None)
        address = user.email
    click.echo(f"removed {address} from {slug}")


@teams.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def members(slug: str, as_json: bool) -> None:
    """List the members of a team with their roles."""
    with transaction() as (_, session):
        team = team_service.require_by_slug(session, slug)
        rows = [
            {
                "email": member.user.email,
                "name": member.user.name,
                "role": member.role,
                "since": member.created_at,
            }
            for member in team_service.members(session, team)
        ]
    columns = [("email", "EMAIL"), ("name", "NAME"), ("role", "ROLE"), ("since", "SINCE")]
    print_rows(rows, columns, as_json=as_json, empty=f"{slug} has no members")


@teams.command("calendar")
@click.argument("slug")
@click.option("--length", "length_days", type=int, help="Set sprints of this many days.")
@click.option(
    "--anchor", "anchor_on", type=click.DateTime(["%Y-%m-%d"]), help="The first day of a sprint."
)
@click.option(
    "--sprints",
    "sprints_file",
    type=click.File("r"),
    help="Set an explicit list: a file with one 'name, first day, last day' per line.",
)
@click.option("--count", default=6, show_default=True, help="How many sprints to show.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def calendar(
    slug: str,
    length_days: int | None,
    anchor_on: datetime | None,
    sprints_file: TextIO | None,
    count: int,
    as_json: bool,
) -> None:
    """Show a team's sprints from today on; with --length/--anchor or --sprints, set them first."""
    if sprints_file is not None and (length_days is not None or anchor_on is not None):
        raise click.UsageError("give either --length and --anchor, or --sprints")
    if (length_days is None) != (anchor_on is None):
        raise click.UsageError("--length and --anchor go together")
    with transaction() as (_, session):
        team = team_service.require_by_slug(session, slug)
        if sprints_file is not None:
            listed = calendar_service.parse_sprint_lines(sprints_file.read())
            calendar_service.set_sprints(session, team=team, sprints=listed, actor=None)
        elif length_days is not None and anchor_on is not None:
            calendar_service.set_cadence(
                session, team=team, length_days=length_days, anchor_on=anchor_on.date(), actor=None
            )
        shown = upcoming(
            calendar_service.calendar_for(session, team=team), utcnow().date(), max(count, 1)
        )
    rows = [
        {"sprint": s.name, "starts_on": s.starts_on, "ends_on": s.ends_on, "number": s.number}
        for s in shown
    ]
    columns = [("sprint", "SPRINT"), ("starts_on", "FIRST DAY"), ("ends_on", "LAST DAY")]
    print_rows(rows, columns, as_json=as_json, empty="no sprints")
