"""The owners' digest: one message per owner listing their open action items, rather than
one message per item.

Each digest sent is a row keyed by team, owner and period ("2026-W48" for the weekly job,
"demand:<instant>" for one asked for). The row is inserted with ON CONFLICT DO NOTHING before
the message is queued, in the same transaction, so a weekly job that runs twice, or on two
workers at once, sends each owner one digest for the week.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.notifications.service import notify
from opsyard.teams.models import Team
from opsyard_postmortems.escalation import item_url
from opsyard_postmortems.models import OPEN, ActionItem, Digest

DEMAND_PREFIX = "demand:"


def week_period(now: datetime) -> str:
    """The ISO week `now` falls in, in UTC: ``2026-W48``."""
    year, week, _ = now.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def demand_period(now: datetime) -> str:
    """The period of a digest asked for at `now`."""
    return DEMAND_PREFIX + now.astimezone(UTC).isoformat()


def open_items(session: Session, *, team: Team, owner_id: int | None = None) -> list[ActionItem]:
    """The team's open items (of one owner, when given), by owner."""
    query = (
        select(ActionItem)
        .where(ActionItem.team_id == team.id, ActionItem.status == OPEN)
        .options(joinedload(ActionItem.owner), joinedload(ActionItem.postmortem).lazyload("*"))
        .order_by(ActionItem.owner_id, ActionItem.id)
    )
    if owner_id is not None:
        query = query.where(ActionItem.owner_id == owner_id)
    return list(session.scalars(query).unique())


def urgency(item: ActionItem, *, today: date) -> tuple[int, date, int]:
    """Sort key: escalated first, then overdue, then by deadline."""
    if item.escalated_at is not None:
        rank = 0
    elif item.deadline < today:
        rank = 1
    else:
        rank = 2
    return rank, item.deadline, item.id


def send_digest(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    user: User | None = None,
    period: str | None = None,
    now: datetime,
) -> int:
    """Send each owner of open items in `team` (or only `user`) one digest for `period`
    (None: on demand, now); returns how many were sent. An owner who already had the
    period's digest, or has no open items, gets nothing."""
    key = period or demand_period(now)
    by_owner: dict[int, list[ActionItem]] = {}
    for item in open_items(session, team=team, owner_id=user.id if user else None):
        by_owner.setdefault(item.owner_id, []).append(item)
    sent = 0
    for owner_id, owned in by_owner.items():
        if not _claim_period(session, team=team, user_id=owner_id, period=key, count=len(owned)):
            continue
        _send(session, portal, team=team, owner=owned[0].owner, items=owned, period=key, now=now)
        sent += 1
    return sent


def _claim_period(session: Session, *, team: Team, user_id: int, period: str, count: int) -> bool:
    """Record the digest; False when this owner already had this period's. The database's
    unique key decides, so two jobs at once cannot both send."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Digest)
        .values(team_id=team.id, user_id=user_id, period=period, item_count=count)
        .on_conflict_do_nothing(index_elements=["team_id", "user_id", "period"])
        .returning(Digest.id)
    )
    return session.execute(statement).scalar() is not None


def _send(
    session: Session,
    portal: PortalContext,
    *,
    team: Team,
    owner: User,
    items: Sequence[ActionItem],
    period: str,
    now: datetime,
) -> None:
    today = now.astimezone(UTC).date()
    ordered = sorted(items, key=lambda item: urgency(item, today=today))
    escalated = sum(1 for item in items if item.escalated_at is not None)
    overdue = sum(1 for item in items if item.deadline < today)
    summary = (
        f"{owner.display_name}, your open post-mortem action items in {team.name}: "
        f"{len(items)} open, {overdue} overdue, {escalated} escalated"
    )
    lines = [
        f"For: {owner.display_name} <{owner.email}>",
        "",
        f"Your open action items in team {team.name}, most urgent first:",
        "",
    ]
    lines += [_line(portal, team, item, today=today) for item in ordered]
    lines += [
        "",
        "Mark an item done with evidence, move its deadline with a reason, or deprioritize "
        "it with a reason and a revisit date.",
    ]
    notify(
        session,
        team=team,
        source=f"opsyard/{team.slug}/postmortems",
        people=[owner],
        summary=summary,
        body="\n".join(lines),
        details={
            "open": len(items),
            "overdue": overdue,
            "escalated": escalated,
            "period": period,
        },
        severity="info",
        dedup_key=f"postmortems-digest-{owner.id}-{period}",
        at=now,
    )


def _line(portal: PortalContext, team: Team, item: ActionItem, *, today: date) -> str:
    flags = []
    if item.escalated_at is not None:
        flags.append("ESCALATED")
    if item.deadline < today:
        flags.append("OVERDUE")
    if item.decision_needed:
        flags.append("DECISION NEEDED")
    marker = f"[{', '.join(flags)}] " if flags else ""
    return (
        f"- {marker}“{item.title}” ({item.postmortem.reference}), due "
        f"{item.deadline.isoformat()}: {item_url(portal, team, item)}"
    )
