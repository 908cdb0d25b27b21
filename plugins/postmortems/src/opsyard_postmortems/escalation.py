"""The escalation sweep: takes every ladder step that is due, across all teams, exactly once.

The sweep reads only the items that are due, through the index on `next_action_at`, joined
to `team_plugins` so a team that switched the plugin off is left alone. Each step is taken
with a compare-and-set UPDATE (the row must still hold the step and the instant the sweep
read), in the transaction that records the step, emits its event and queues its
notification: two sweeps at once, on two workers or a job run twice, take each step once.
On PostgreSQL the due rows are also locked with ``FOR UPDATE SKIP LOCKED``, so a second
sweep passes over the rows the first is working on instead of queuing behind them.

Notifications go to the team's channels. An email channel writes to the people the step
concerns; Slack and webhook channels post to the team, naming them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.jobs.drain import drain
from opsyard.notifications.models import Channel
from opsyard.notifications.outbox import Severity
from opsyard.notifications.rows import changed_rows
from opsyard.notifications.service import notify
from opsyard.roles import Role
from opsyard.teams.models import Membership, Team, TeamPlugin
from opsyard_postmortems import events, ladder
from opsyard_postmortems.models import (
    ESCALATE,
    OPEN,
    OVERDUE,
    REMIND,
    ActionItem,
    ItemHistory,
    TeamSettings,
)
from opsyard_postmortems.settings import DEFAULT_REMINDER_DAYS

log = logging.getLogger(__name__)

PLUGIN = "postmortems"
BATCH_SIZE = 500
# Real seconds one sweep may spend, well inside the job's time limit; what is left is due
# again at the next run.
RUN_BUDGET_SECONDS = 120.0


@dataclass(frozen=True)
class Rung:
    """What taking a step writes: the column it stamps, its history kind, its event, and how
    loud its notification is."""

    stamp: str
    history: str
    event: str
    severity: Severity


RUNGS: dict[str, Rung] = {
    REMIND: Rung("reminded_at", "reminded", events.REMINDED, "info"),
    OVERDUE: Rung("overdue_at", "overdue", events.OVERDUE, "warning"),
    ESCALATE: Rung("escalated_at", "escalated", events.ESCALATED, "error"),
}


@dataclass
class SweepResult:
    """What one sweep did: the steps taken, and the items they were taken for (`item_ids`).
    `replanned` counts due rows whose step no longer applied (the item closed, or the team's
    settings changed, behind the plan's back); their plan was brought up to date. `lost`
    counts steps another sweep took between this one's read and its write."""

    reminded: int = 0
    overdue: int = 0
    escalated: int = 0
    replanned: int = 0
    lost: int = 0
    failed: int = 0
    item_ids: list[int] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return self.reminded + self.overdue + self.escalated

    def count(self, step: str) -> None:
        if step == REMIND:
            self.reminded += 1
        elif step == OVERDUE:
            self.overdue += 1
        else:
            self.escalated += 1


@dataclass(frozen=True)
class TeamRules:
    """A team's ladder settings and the people its steps go to, read once per batch."""

    team: Team
    reminder_days: int
    leads: list[User]
    contacts: list[User]
    channels: list[Channel]


@dataclass(frozen=True)
class Message:
    summary: str
    body: str
    details: dict[str, Any]


def due_query(
    *,
    now: datetime,
    after: tuple[datetime, int] | None = None,
    limit: int = BATCH_SIZE,
    team_id: int | None = None,
) -> Select[int, str | None, datetime | None]:
    """The next `limit` due steps of teams that have the plugin on (or of one team), oldest
    first, after the keyset position `after` (the instant and id of the last row read)."""
    query = (
        select(ActionItem.id, ActionItem.next_step, ActionItem.next_action_at)
        .join(
            TeamPlugin,
            and_(TeamPlugin.team_id == ActionItem.team_id, TeamPlugin.plugin == PLUGIN),
        )
        .where(ActionItem.next_action_at <= now)
    )
    if team_id is not None:
        query = query.where(ActionItem.team_id == team_id)
    if after is not None:
        # Keyset paging: rows that failed or were skipped stay due, and must not be read
        # again within the same sweep. The lower bound keeps the scan on the index range.
        seen_at, seen_id = after
        query = query.where(
            ActionItem.next_action_at >= seen_at,
            or_(ActionItem.next_action_at > seen_at, ActionItem.id > seen_id),
        )
    return (
        query.order_by(ActionItem.next_action_at, ActionItem.id)
        .limit(limit)
        .with_for_update(of=ActionItem, skip_locked=True)
    )


def sweep(
    portal: PortalContext,
    *,
    at: datetime,
    batch_size: int = BATCH_SIZE,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> SweepResult:
    """Take every ladder step due as of `at`, oldest first, committing once per batch."""
    result = SweepResult()
    position: list[tuple[datetime, int]] = []

    def batch(now: datetime) -> int | None:
        with portal.sessions() as session:
            rows = session.execute(
                due_query(now=now, after=position[-1] if position else None, limit=batch_size)
            ).all()
            if not rows:
                return None
            last = rows[-1]
            assert last.next_action_at is not None  # only due rows are read
            position.append((last.next_action_at, last.id))
            _take_batch(session, portal, rows, now=now, result=result)
            session.commit()
        # A short batch was the last of what is due (or the rest is another sweep's).
        return len(rows) if len(rows) == batch_size else None

    drain(at=at, budget_seconds=budget_seconds, batch=batch)
    if result.taken or result.failed:
        log.info(
            "escalation sweep: %s reminded, %s overdue, %s escalated, %s failed",
            result.reminded,
            result.overdue,
            result.escalated,
            result.failed,
        )
    return result


def take_due_steps(
    session: Session, *, portal: PortalContext, team: Team, now: datetime
) -> SweepResult:
    """Take `team`'s due steps as of `now` in the caller's transaction, without committing:
    for a caller that already holds one, such as loading demo data."""
    result = SweepResult()
    after: tuple[datetime, int] | None = None
    while rows := session.execute(due_query(now=now, after=after, team_id=team.id)).all():
        _take_batch(session, portal, rows, now=now, result=result)
        last = rows[-1]
        assert last.next_action_at is not None
        after = (last.next_action_at, last.id)
    return result


def _take_batch(
    session: Session,
    portal: PortalContext,
    rows: Sequence[Any],
    *,
    now: datetime,
    result: SweepResult,
) -> None:
    items = _load_items(session, [row.id for row in rows])
    rules = team_rules(session, team_ids={item.team_id for item in items.values()})
    for row in rows:
        item = items.get(row.id)
        if item is None or item.team_id not in rules:
            continue  # deleted since the read
        try:
            _take(
                session,
                portal,
                item,
                seen_step=row.next_step,
                seen_at=row.next_action_at,
                rules=rules[item.team_id],
                now=now,
                result=result,
            )
        except Exception:
            log.exception("escalation sweep: action item %s failed; it stays due", item.id)
            result.failed += 1


def _load_items(session: Session, ids: list[int]) -> dict[int, ActionItem]:
    # The owner and the post-mortem's number are all a step needs; the post-mortem's own
    # collections (timeline, links, items, ideas) would cost five queries per item.
    query = (
        select(ActionItem)
        .where(ActionItem.id.in_(ids))
        .options(
            joinedload(ActionItem.owner),
            joinedload(ActionItem.postmortem).lazyload("*"),
            lazyload(ActionItem.deprioritized_by),
        )
    )
    return {item.id: item for item in session.scalars(query).unique()}


def team_rules(session: Session, *, team_ids: Iterable[int]) -> dict[int, TeamRules]:
    """Each team's reminder days, its leads (the team lead, else its owners), its escalation
    contacts (the escalation contact, else the leads) and its enabled channels: four queries
    for a whole batch, whatever the number of teams in it."""
    ids = sorted(set(team_ids))
    found = {team.id: team for team in session.scalars(select(Team).where(Team.id.in_(ids)))}
    settings = {
        row.team_id: row
        for row in session.scalars(select(TeamSettings).where(TeamSettings.team_id.in_(ids)))
    }
    owners: dict[int, list[User]] = {team_id: [] for team_id in ids}
    for team_id, user in session.execute(
        select(Membership.team_id, User)
        .join(User, Membership.user_id == User.id)
        .where(Membership.team_id.in_(ids), Membership.role == Role.OWNER.value)
        .order_by(Membership.id)
    ):
        owners[team_id].append(user)
    channels: dict[int, list[Channel]] = {team_id: [] for team_id in ids}
    for channel in session.scalars(
        select(Channel)
        .where(Channel.team_id.in_(ids), Channel.enabled.is_(True))
        .order_by(Channel.id)
    ):
        channels[channel.team_id].append(channel)
    rules: dict[int, TeamRules] = {}
    for team_id, team in found.items():
        row = settings.get(team_id)
        lead = row.team_lead if row is not None else None
        contact = row.escalation_contact if row is not None else None
        leads = [lead] if lead is not None else owners[team_id]
        rules[team_id] = TeamRules(
            team=team,
            # A team without a settings row has the defaults.
            reminder_days=row.reminder_days if row is not None else DEFAULT_REMINDER_DAYS,
            leads=leads,
            contacts=[contact] if contact is not None else leads,
            channels=channels[team_id],
        )
    return rules


def recipients(step: str, item: ActionItem, rules: TeamRules) -> list[User]:
    """Who a step concerns: the owner; the owner and the leads; or the escalation contacts."""
    if step == REMIND:
        people = [item.owner]
    elif step == OVERDUE:
        people = [item.owner, *rules.leads]
    else:
        people = list(rules.contacts)
    unique: dict[int, User] = {}
    for person in people:
        unique.setdefault(person.id, person)
    return list(unique.values())


def _plan_after(
    item: ActionItem, *, stamp: str | None, reminder_days: int, now: datetime
) -> dict[str, Any]:
    """The columns to write once `stamp` is set (or, with None, just the plan brought up to
    date), worked out on a detached copy so the loaded row stays as read until the write
    has succeeded."""
    probe = ActionItem(
        status=item.status,
        deadline=item.deadline,
        escalate_after=item.escalate_after,
        created_at=item.created_at,
        reminded_at=item.reminded_at,
        overdue_at=item.overdue_at,
        escalated_at=item.escalated_at,
    )
    values: dict[str, Any] = {}
    if stamp is not None:
        setattr(probe, stamp, now)
        values[stamp] = now
    ahead = ladder.next_step(probe, reminder_days=reminder_days, now=now)
    values.update(
        next_step=ahead.name if ahead else None,
        next_action_at=ahead.at if ahead else None,
        updated_at=now,
    )
    return values


def compare_and_set(
    session: Session,
    item: ActionItem,
    *,
    seen_step: str | None,
    seen_at: datetime | None,
    values: dict[str, Any],
) -> bool:
    """Write `values` if the row still holds the step and instant the sweep read; True when
    this sweep won. The loaded object is brought in line without a second UPDATE."""
    won = changed_rows(
        session,
        update(ActionItem)
        .where(
            ActionItem.id == item.id,
            ActionItem.next_step == seen_step,
            ActionItem.next_action_at == seen_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    if won != 1:
        return False
    for key, value in values.items():
        set_committed_value(item, key, value)
    return True


def _take(
    session: Session,
    portal: PortalContext,
    item: ActionItem,
    *,
    seen_step: str | None,
    seen_at: datetime | None,
    rules: TeamRules,
    now: datetime,
    result: SweepResult,
) -> None:
    step = (
        ladder.next_step(item, reminder_days=rules.reminder_days, now=now)
        if item.status == OPEN
        else None
    )
    if step is None or step.at > now:
        # Nothing due after all (the item closed, or the team's reminder days changed):
        # store the current plan so the row leaves the due range.
        values = _plan_after(item, stamp=None, reminder_days=rules.reminder_days, now=now)
        if compare_and_set(session, item, seen_step=seen_step, seen_at=seen_at, values=values):
            result.replanned += 1
        else:
            result.lost += 1
        return
    rung = RUNGS[step.name]
    people = recipients(step.name, item, rules)
    message = compose(portal, step.name, item, rules=rules, people=people)
    before = {key: getattr(item, key) for key in (rung.stamp, "updated_at")}
    values = _plan_after(item, stamp=rung.stamp, reminder_days=rules.reminder_days, now=now)
    if not compare_and_set(session, item, seen_step=seen_step, seen_at=seen_at, values=values):
        result.lost += 1
        return
    savepoint = session.begin_nested()
    try:
        _record(session, portal, item, step=step, rung=rung, rules=rules, people=people, now=now)
        notify(
            session,
            team=rules.team,
            # Read once per batch; PagerDuty is left out: nobody is woken for a post-mortem.
            channels=[channel.id for channel in rules.channels if channel.kind != "pagerduty"],
            source=f"opsyard/{rules.team.slug}/postmortems",
            people=people,
            summary=message.summary,
            body=message.body,
            details=message.details,
            severity=rung.severity,
            dedup_key=f"postmortems-item-{item.id}-{step.name}",
            at=now,
        )
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        # Give the step back, so the next sweep tries again.
        restore = {**before, "next_step": seen_step, "next_action_at": seen_at}
        compare_and_set(
            session,
            item,
            seen_step=values["next_step"],
            seen_at=values["next_action_at"],
            values=restore,
        )
        raise
    result.count(step.name)
    result.item_ids.append(item.id)


def _record(
    session: Session,
    portal: PortalContext,
    item: ActionItem,
    *,
    step: ladder.Step,
    rung: Rung,
    rules: TeamRules,
    people: list[User],
    now: datetime,
) -> None:
    session.add(
        ItemHistory(
            item_id=item.id,
            team_id=item.team_id,
            kind=rung.history,
            at=now,
            actor_id=None,
            detail={
                "deadline": item.deadline.isoformat(),
                "escalate_after": item.escalate_after.isoformat(),
                "due_at": step.at.isoformat(),
                "notified": [person.email for person in people],
            },
        )
    )
    events.emit_item(session, portal=portal, team=rules.team, name=rung.event, item=item, at=now)


def compose(
    portal: PortalContext, step: str, item: ActionItem, *, rules: TeamRules, people: list[User]
) -> Message:
    """The notification for `step` of `item`: who it is for, what happened, what to do."""
    reference = item.postmortem.reference
    url = item_url(portal, rules.team, item)
    owner = item.owner.display_name
    names = ", ".join(person.display_name for person in people) or "nobody"
    deadline = item.deadline.isoformat()
    if step == REMIND:
        summary = f"Reminder for {owner}: “{item.title}” ({reference}) is due on {deadline}"
        advice = "Finish it and mark it done with evidence, or move the deadline with a reason."
    elif step == OVERDUE:
        summary = f"Overdue: “{item.title}” ({reference}), owned by {owner}, was due on {deadline}"
        advice = (
            "Mark it done with evidence, move the deadline with a reason, or deprioritize it "
            "with a reason and a revisit date."
        )
    else:
        summary = (
            f"Escalated to {names}: “{item.title}” ({reference}), owned by {owner}, is still "
            f"open after {item.escalate_after.isoformat()}"
        )
        advice = "It stays escalated until someone decides: done, a new deadline, or deprioritized."
    body = "\n".join(
        [
            f"For: {_addressed(people)}",
            "",
            f"Action item “{item.title}” from {reference} in team {rules.team.name}.",
            f"Owner: {_addressed([item.owner])}. Deadline: {deadline}.",
            advice,
            "",
            url,
        ]
    )
    details = {
        "owner": item.owner.email,
        "postmortem": reference,
        "deadline": deadline,
        "step": step,
        "url": url,
    }
    return Message(summary=summary, body=body, details=details)


def item_url(portal: PortalContext, team: Team, item: ActionItem) -> str:
    """The item on its post-mortem's page, absolute."""
    page = events.postmortem_url(portal, team=team, number=item.postmortem.number)
    return f"{page}#item-{item.id}"


def _addressed(people: Sequence[User]) -> str:
    return ", ".join(f"{person.display_name} <{person.email}>" for person in people)
