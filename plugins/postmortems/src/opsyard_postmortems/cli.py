"""``opsyard postmortems``: list, show and export post-mortems; follow their action items.

Like core's commands, these act as the operator (no acting user) unless ``--as`` names one.
Every rule lives in the service layer, so the CLI refuses what the API and the pages refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.auth import users as user_service
from opsyard.auth.models import User
from opsyard.cli.output import JSON_OPTION, print_json, print_rows, print_table
from opsyard.cli.runtime import team_with_plugin, transaction
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as team_service
from opsyard.teams.models import Team
from opsyard_postmortems import digest, export, items, postmortems
from opsyard_postmortems.models import ITEM_STATUSES, POSTMORTEM_STATUSES, SEVERITIES
from opsyard_postmortems.schemas import (
    ActionItemIn,
    ActionItemOut,
    PostMortemOut,
    PostMortemSummaryOut,
)

PLUGIN = "postmortems"

TEAM_OPTION = click.option(
    "--team", "slug", required=True, metavar="SLUG", help="The team the post-mortem belongs to."
)

ITEM_COLUMNS = [
    ("team", "TEAM"),
    ("reference", "PM"),
    ("id", "ITEM"),
    ("title", "TITLE"),
    ("owner", "OWNER"),
    ("deadline", "DEADLINE"),
    ("state", "STATUS"),
]


def _enabled_teams(session: Session) -> list[Team]:
    return [
        team
        for team in team_service.list_teams(session)
        if team_service.is_enabled(session, team, PLUGIN)
    ]


def _actor(session: Session, team: Team, email: str | None) -> User | None:
    """The user named by --as, who must be able to change the team's post-mortems."""
    if email is None:
        return None
    user = user_service.require_by_email(session, email)
    member = team_service.membership(session, team=team, user=user)
    if not user.is_admin and (member is None or not Role(member.role).allows(Role.MEMBER)):
        raise OpsyardError(
            errors.FORBIDDEN, f"{user.email} may not change {team.slug}'s post-mortems."
        )
    return user


def _item_input(**values: Any) -> ActionItemIn:
    """The options as the service's input; a bad value names the option to fix."""
    try:
        return ActionItemIn.model_validate(values)
    except ValidationError as exc:
        problems = []
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            option = "--" + field.removesuffix("_id").replace("_", "-")
            problems.append(f"{option}: {problem['msg']}")
        raise OpsyardError(errors.VALIDATION_FAILED, "; ".join(problems)) from exc


def _state(item: ActionItemOut) -> str:
    """The status as a person reads it: "open, overdue, escalated"."""
    flags = [item.status]
    if item.overdue:
        flags.append("overdue")
    if item.escalated:
        flags.append("escalated")
    if item.decision_needed:
        flags.append("decision needed")
    return ", ".join(flags)


def _item_row(item: ActionItemOut, team: str) -> dict[str, Any]:
    return {
        "team": team,
        "reference": f"PM-{item.postmortem}",
        "id": item.id,
        "title": item.title,
        "owner": item.owner.email,
        "deadline": item.deadline.isoformat(),
        "state": _state(item),
    }


@click.group(name=PLUGIN)
def postmortems_cli() -> None:
    """Post-mortems: list, show, export; their action items and digests."""


@postmortems_cli.command("list")
@TEAM_OPTION
@click.option("--status", type=click.Choice(POSTMORTEM_STATUSES), help="Only this status.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--overdue", is_flag=True, help="Only those with an overdue action item.")
@JSON_OPTION
def list_(
    slug: str, status: str | None, severity: str | None, overdue: bool, as_json: bool
) -> None:
    """List a team's post-mortems, newest first."""
    now = utcnow()
    with transaction() as (_, session):
        team = team_with_plugin(session, slug, PLUGIN)
        found = postmortems.list_postmortems(
            session, team=team, status=status, severity=severity, overdue=overdue, now=now
        )
        rows = [PostMortemSummaryOut.from_row(p, now=now) for p in found]
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    table = [
        {
            "reference": row.reference,
            "severity": row.severity,
            "status": row.status,
            "started": row.incident_started_at,
            "open": row.open_items,
            "overdue": row.overdue_items,
            "title": row.title,
        }
        for row in rows
    ]
    columns = [
        ("reference", "PM"),
        ("severity", "SEVERITY"),
        ("status", "STATUS"),
        ("started", "STARTED"),
        ("open", "OPEN"),
        ("overdue", "OVERDUE"),
        ("title", "TITLE"),
    ]
    print_rows(table, columns, as_json=False, empty=f"{slug} has no post-mortems")


@postmortems_cli.command()
@TEAM_OPTION
@click.argument("number", type=int)
@JSON_OPTION
def show(slug: str, number: int, as_json: bool) -> None:
    """Show post-mortem NUMBER, its action items and its parking lot."""
    with transaction() as (_, session):
        team = team_with_plugin(session, slug, PLUGIN)
        postmortem = PostMortemOut.from_row(
            postmortems.get_postmortem(session, team=team, number=number), now=utcnow()
        )
    if as_json:
        click.echo(postmortem.model_dump_json(indent=2))
        return
    _print_postmortem(postmortem, slug)


def _print_postmortem(pm: PostMortemOut, slug: str) -> None:
    started = pm.incident_started_at.strftime("%Y-%m-%d %H:%M")
    window = (
        f"{started} to {pm.incident_ended_at.strftime('%Y-%m-%d %H:%M')} UTC"
        if pm.incident_ended_at
        else f"{started} UTC, still ongoing"
    )
    click.echo(f"{pm.reference}  {pm.title}")
    click.echo(f"team:      {slug}")
    click.echo(f"severity:  {pm.severity}")
    click.echo(f"status:    {pm.status}")
    click.echo(f"incident:  {window}")
    click.echo(f"authors:   {', '.join(a.email for a in pm.authors) or '-'}")
    reviewer = pm.reviewer.email if pm.reviewer else "-"
    approved = f" (approved by {pm.approved_by.email})" if pm.approved_by else ""
    click.echo(f"reviewer:  {reviewer}{approved}")
    click.echo("")
    click.echo(f"Action items ({len(pm.items)} of 3):")
    print_table(
        [_item_row(item, slug) for item in pm.items],
        [column for column in ITEM_COLUMNS if column[0] not in ("team", "reference")],
        empty="  none yet",
    )
    click.echo("")
    click.echo(f"Parking lot ({len(pm.ideas)}):")
    for idea in pm.ideas:
        click.echo(f"  - {' '.join(idea.text.split())}")
    if not pm.ideas:
        click.echo("  empty")
    click.echo("")
    click.echo(f"Full text: opsyard postmortems export --team {slug} {pm.number}")


@postmortems_cli.command("export")
@TEAM_OPTION
@click.argument("number", type=int)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_(slug: str, number: int, output: Path | None) -> None:
    """Export post-mortem NUMBER as Markdown."""
    with transaction() as (_, session):
        team = team_with_plugin(session, slug, PLUGIN)
        postmortem = postmortems.get_postmortem(session, team=team, number=number)
        text = export.to_markdown(postmortem)
        reference = postmortem.reference
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {reference} to {output}")


@postmortems_cli.command("items")
@click.option("--team", "slug", metavar="SLUG", help="Only this team (default: every team).")
@click.option("--status", type=click.Choice(ITEM_STATUSES), help="Only this status.")
@click.option("--overdue", is_flag=True, help="Only open items past their deadline.")
@click.option("--escalated", is_flag=True, help="Only escalated items.")
@click.option("--mine", is_flag=True, help="Only the items owned by --user.")
@click.option("--user", "email", metavar="EMAIL", help="Whose items --mine lists.")
@JSON_OPTION
def items_(
    slug: str | None,
    status: str | None,
    overdue: bool,
    escalated: bool,
    mine: bool,
    email: str | None,
    as_json: bool,
) -> None:
    """List action items of one team, or of every team using post-mortems."""
    if mine and not email:
        raise click.UsageError("--mine needs --user EMAIL: whose items to list.")
    if email and not mine:
        raise click.UsageError("--user goes with --mine.")
    now = utcnow()
    with transaction() as (_, session):
        scope = [team_with_plugin(session, slug, PLUGIN)] if slug else _enabled_teams(session)
        slugs = {team.id: team.slug for team in scope}
        owner = user_service.require_by_email(session, email) if email else None
        found = items.list_items(
            session,
            team_ids=sorted(slugs),
            owner_id=owner.id if owner else None,
            status=status,
            overdue=overdue,
            escalated=escalated,
            now=now,
        )
        rows = [(ActionItemOut.from_row(item, now=now), slugs[item.team_id]) for item in found]
    if as_json:
        print_json([{"team": team, **item.model_dump(mode="json")} for item, team in rows])
        return
    print_rows(
        [_item_row(item, team) for item, team in rows],
        ITEM_COLUMNS,
        as_json=False,
        empty="no action items",
    )


@postmortems_cli.command("add-item")
@TEAM_OPTION
@click.argument("number", type=int)
@click.option("--title", required=True, help="What will be done.")
@click.option("--owner", "owner_email", required=True, metavar="EMAIL", help="The one owner.")
@click.option(
    "--deadline",
    required=True,
    metavar="DATE|sprint+K",
    help="YYYY-MM-DD, or sprint+K for the end of the sprint K after this one.",
)
@click.option("--description", default="", help="More detail (Markdown).")
@click.option("--tracker-url", metavar="URL", help="The tracker issue for it.")
@click.option("--as", "actor_email", metavar="EMAIL", help="Record the change as this user's.")
def add_item(
    slug: str,
    number: int,
    title: str,
    owner_email: str,
    deadline: str,
    description: str,
    tracker_url: str | None,
    actor_email: str | None,
) -> None:
    """Add an action item to post-mortem NUMBER.

    A post-mortem has at most three; further ideas belong in its parking lot.
    """
    with transaction() as (ctx, session):
        team = team_with_plugin(session, slug, PLUGIN)
        postmortem = postmortems.get_postmortem(session, team=team, number=number)
        owner = user_service.require_by_email(session, owner_email)
        data = _item_input(
            title=title,
            description=description,
            owner_id=owner.id,
            deadline=deadline,
            tracker_url=tracker_url,
        )
        item = items.add_item(
            session,
            portal=ctx,
            postmortem=postmortem,
            actor=_actor(session, team, actor_email),
            data=data,
        )
        summary = f"added item {item.id} to {postmortem.reference}, due {item.deadline}"
    click.echo(summary)


@postmortems_cli.command("digest")
@TEAM_OPTION
@click.option("--user", "email", metavar="EMAIL", help="Only this owner (default: every owner).")
def digest_(slug: str, email: str | None) -> None:
    """Send owners their digest of open items now.

    Every owner of open items in the team gets one, or only --user.
    """
    with transaction() as (ctx, session):
        team = team_with_plugin(session, slug, PLUGIN)
        user = user_service.require_by_email(session, email) if email else None
        sent = digest.send_digest(session, portal=ctx, team=team, user=user, now=utcnow())
    click.echo(f"sent {sent} digest{'s' if sent != 1 else ''} for {slug}")
