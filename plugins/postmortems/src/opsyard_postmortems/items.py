"""Action items: at most three per post-mortem, each with one owner and a deadline, and every
change to them on record.

Every change writes an `ItemHistory` row and re-plans the item's escalation ladder; the ladder
steps themselves are taken by the sweep only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.auth.models import User
from opsyard.calendars.service import calendar_for
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_postmortems import events, ladder
from opsyard_postmortems.deadlines import (
    check_within_window,
    escalation_window_end,
    parse_deadline,
    sprint_end,
)
from opsyard_postmortems.errors import (
    EVIDENCE_REQUIRED,
    EXTENSIONS_EXHAUSTED,
    INVALID_DEADLINE,
    INVALID_TRANSITION,
    NOT_FOUND,
    OWNER_NOT_MEMBER,
    REASON_REQUIRED,
    TOO_MANY_ITEMS,
)
from opsyard_postmortems.models import (
    DEPRIORITIZED,
    DONE,
    ITEM_STATUSES,
    OPEN,
    ActionItem,
    ItemHistory,
    PostMortem,
)
from opsyard_postmortems.schemas import (
    ActionItemIn,
    DeadlineExtensionIn,
    ItemDeprioritizeIn,
    ItemDoneIn,
    ItemReopenIn,
    TrackerLinkIn,
)
from opsyard_postmortems.settings import settings_for

MAX_ITEMS = 3
GITHUB_ISSUE = re.compile(
    r"^https?://(?:www\.)?github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/issues/(\d+)/?(?:[?#].*)?$"
)


def github_issue_key(repository: str, number: int) -> str:
    """The tracker key of issue `number` in `repository` ("owner/repo"). GitHub names are
    case-insensitive, so the key is lower case."""
    return f"github:{repository.lower()}#{number}"


def tracker_key_of(url: str) -> str | None:
    """The key the GitHub integration finds an item by, when `url` is a GitHub issue."""
    match = GITHUB_ISSUE.match(url)
    if match is None:
        return None
    owner, repo, number = match.groups()
    return github_issue_key(f"{owner}/{repo}", int(number))


def _record(
    session: Session,
    item: ActionItem,
    *,
    kind: str,
    actor: User | None,
    at: datetime,
    **detail: Any,
) -> ItemHistory:
    row = ItemHistory(
        item_id=item.id,
        team_id=item.team_id,
        kind=kind,
        at=at,
        actor_id=actor.id if actor else None,
        detail=detail,
    )
    session.add(row)
    return row


def _replan(session: Session, item: ActionItem, *, team: Team, now: datetime) -> None:
    rules = settings_for(session, team=team)
    ladder.replan(item, reminder_days=rules.reminder_days, now=now)
    item.updated_at = now
    session.flush()


def _require_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise OpsyardError(
            REASON_REQUIRED,
            "Say why; the reason is kept on the item's record.",
            fields=[FieldProblem("/reason", "Give a reason.")],
        )
    return text


def _require_open(item: ActionItem, doing: str) -> None:
    if item.status != OPEN:
        raise OpsyardError(
            INVALID_TRANSITION,
            f"Item {item.id} is {item.status}; reopen it before it can be {doing}.",
        )


def _lock_postmortem(session: Session, postmortem: PostMortem, now: datetime) -> None:
    # Two requests adding the third and the fourth item at once must not both see two items.
    # An UPDATE of the post-mortem row is a lock on both backends: PostgreSQL holds the row
    # lock until commit (as SELECT ... FOR UPDATE would), and on SQLite it takes the database
    # write lock before the count, where a SELECT ... FOR UPDATE is silently ignored.
    session.execute(
        update(PostMortem)
        .where(PostMortem.id == postmortem.id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    postmortem.updated_at = now


def add_item(
    session: Session,
    *,
    portal: PortalContext,
    postmortem: PostMortem,
    actor: User | None,
    data: ActionItemIn,
    now: datetime | None = None,
) -> ActionItem:
    """Add an action item; a fourth is refused whatever the status of the other three."""
    now = now or utcnow()
    _lock_postmortem(session, postmortem, now)
    count = session.scalar(
        select(func.count())
        .select_from(ActionItem)
        .where(ActionItem.postmortem_id == postmortem.id)
    )
    if (count or 0) >= MAX_ITEMS:
        raise OpsyardError(
            TOO_MANY_ITEMS,
            f"{postmortem.reference} already has {count} action items, the most a post-mortem "
            "can have (done and deprioritized items count too). Put this idea in the "
            "post-mortem's parking lot, which has no owner and no deadline, or replace one of "
            "the three.",
            fields=[
                FieldProblem("/title", "Add it to the parking lot instead of the action items.")
            ],
            extra={"limit": MAX_ITEMS, "parking_lot": f"{postmortem.reference} parking lot"},
        )
    team = session.get_one(Team, postmortem.team_id)
    owner = teams.require_member(
        session, team=team, user_id=data.owner_id, error=OWNER_NOT_MEMBER, pointer="/owner_id"
    )
    calendar = calendar_for(session, team=team)
    rules = settings_for(session, team=team)
    today = now.date()
    deadline, rule = parse_deadline(data.deadline, calendar=calendar, today=today)
    escalate_after = escalation_window_end(
        calendar, created_on=today, sprints=rules.escalate_after_sprints
    )
    check_within_window(deadline, escalate_after=escalate_after, pointer="/deadline")
    item = ActionItem(
        postmortem_id=postmortem.id,
        postmortem=postmortem,
        team_id=team.id,
        title=data.title,
        description=data.description,
        owner_id=owner.id,
        owner=owner,
        deadline=deadline,
        deadline_rule=rule,
        created_sprint=calendar.sprint_on(today).name,
        escalate_after=escalate_after,
        status=OPEN,
        extensions_used=0,
        decision_needed=False,
        tracker_url=data.tracker_url,
        tracker_key=tracker_key_of(data.tracker_url) if data.tracker_url else None,
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    _record(
        session,
        item,
        kind="created",
        actor=actor,
        at=now,
        owner=owner.email,
        deadline=deadline.isoformat(),
        deadline_rule=rule,
        escalate_after=escalate_after.isoformat(),
    )
    _replan(session, item, team=team, now=now)
    return item


def get_item(session: Session, *, team: Team, item_id: int) -> ActionItem:
    """The team's action item `item_id`."""
    item = session.get(ActionItem, item_id)
    if item is None or item.team_id != team.id:
        raise OpsyardError(NOT_FOUND, f"{team.slug} has no action item {item_id}.")
    return item


def list_items(
    session: Session,
    *,
    team_ids: Sequence[int],
    owner_id: int | None = None,
    status: str | None = None,
    overdue: bool = False,
    escalated: bool = False,
    now: datetime,
) -> list[ActionItem]:
    """Action items of the given teams, soonest deadline first. `overdue` keeps open items past
    their deadline; `escalated` keeps open items that were escalated."""
    if status is not None and status not in ITEM_STATUSES:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{status!r} is not an item status.",
            fields=[FieldProblem("/status", f"Use one of {', '.join(ITEM_STATUSES)}.")],
        )
    if not team_ids:
        return []
    query = select(ActionItem).where(ActionItem.team_id.in_(list(team_ids)))
    if owner_id is not None:
        query = query.where(ActionItem.owner_id == owner_id)
    if status is not None:
        query = query.where(ActionItem.status == status)
    if overdue:
        query = query.where(ActionItem.status == OPEN, ActionItem.deadline < now.date())
    if escalated:
        query = query.where(ActionItem.status == OPEN, ActionItem.escalated_at.is_not(None))
    return list(session.scalars(query.order_by(ActionItem.deadline, ActionItem.id)))


def _emit(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    name: str,
    item: ActionItem,
    actor: User | None,
    at: datetime,
) -> None:
    events.emit_item(session, portal=portal, team=team, name=name, item=item, actor=actor, at=at)


def complete_item(
    session: Session,
    *,
    portal: PortalContext,
    item: ActionItem,
    actor: User | None,
    data: ItemDoneIn,
    now: datetime | None = None,
) -> ActionItem:
    """Mark an open item done with evidence (a link, a note or both). `actor` None is an
    integration, such as a closed GitHub issue."""
    now = now or utcnow()
    _require_open(item, "marked done")
    url = (data.evidence_url or "").strip() or None
    note = (data.evidence_note or "").strip() or None
    if url is None and note is None:
        raise OpsyardError(
            EVIDENCE_REQUIRED,
            "Say how it was done: a link, a note, or both.",
            fields=[
                FieldProblem("/evidence_url", "Link the change, issue or document."),
                FieldProblem("/evidence_note", "Or describe what was done."),
            ],
        )
    team = session.get_one(Team, item.team_id)
    item.status = DONE
    item.done_at = now
    item.evidence_url = url
    item.evidence_note = note
    item.decision_needed = False
    _record(
        session,
        item,
        kind="done",
        actor=actor,
        at=now,
        evidence_url=url,
        evidence_note=note,
        on_time=now.date() <= item.deadline,
        was_escalated=item.escalated_at is not None,
    )
    _replan(session, item, team=team, now=now)
    _emit(session, portal=portal, team=team, name=events.COMPLETED, item=item, actor=actor, at=now)
    return item


def deprioritize_item(
    session: Session,
    *,
    portal: PortalContext,
    item: ActionItem,
    actor: User,
    data: ItemDeprioritizeIn,
    now: datetime | None = None,
) -> ActionItem:
    """Set an open item aside, on record: why, who decided, and when to look at it again."""
    now = now or utcnow()
    _require_open(item, "deprioritized")
    reason = _require_reason(data.reason)
    if data.revisit_on <= now.date():
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"The revisit date {data.revisit_on} is not after today ({now.date()}).",
            fields=[FieldProblem("/revisit_on", "Choose a day in the future to look again.")],
        )
    team = session.get_one(Team, item.team_id)
    item.status = DEPRIORITIZED
    item.deprioritized_reason = reason
    item.deprioritized_by_id = actor.id
    # The session's own instance: `actor` may come from the request's authentication.
    item.deprioritized_by = session.get_one(User, actor.id)
    item.deprioritized_at = now
    item.revisit_on = data.revisit_on
    item.decision_needed = False
    _record(
        session,
        item,
        kind="deprioritized",
        actor=actor,
        at=now,
        reason=reason,
        revisit_on=data.revisit_on.isoformat(),
        was_escalated=item.escalated_at is not None,
    )
    _replan(session, item, team=team, now=now)
    _emit(
        session, portal=portal, team=team, name=events.DEPRIORITIZED, item=item, actor=actor, at=now
    )
    return item


def _clear_ladder(item: ActionItem) -> None:
    # A new deadline starts the ladder afresh: the earlier reminder, overdue notice and
    # escalation were about the old one.
    item.reminded_at = None
    item.overdue_at = None
    item.escalated_at = None


def reopen_item(
    session: Session,
    *,
    portal: PortalContext,
    item: ActionItem,
    actor: User,
    data: ItemReopenIn,
    now: datetime | None = None,
) -> ActionItem:
    """Reopen a done or deprioritized item, with a reason; a new deadline is required when the
    old one has passed."""
    now = now or utcnow()
    if item.status == OPEN:
        raise OpsyardError(INVALID_TRANSITION, f"Item {item.id} is already open.")
    reason = _require_reason(data.reason)
    team = session.get_one(Team, item.team_id)
    today = now.date()
    previous = item.status
    old_deadline = item.deadline
    if data.deadline is not None and data.deadline.strip():
        calendar = calendar_for(session, team=team)
        item.deadline, item.deadline_rule = parse_deadline(
            data.deadline, calendar=calendar, today=today
        )
        item.escalate_after = max(item.escalate_after, sprint_end(calendar, item.deadline))
        _clear_ladder(item)
    elif item.deadline < today:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"The deadline {item.deadline} has passed; a reopened item needs a new one.",
            fields=[FieldProblem("/deadline", "Give a new deadline: a date or 'sprint+k'.")],
        )
    item.status = OPEN
    item.done_at = None
    item.evidence_url = None
    item.evidence_note = None
    item.deprioritized_reason = None
    item.deprioritized_by_id = None
    item.deprioritized_by = None
    item.deprioritized_at = None
    item.revisit_on = None
    _record(
        session,
        item,
        kind="reopened",
        actor=actor,
        at=now,
        reason=reason,
        previous_status=previous,
        old_deadline=old_deadline.isoformat(),
        deadline=item.deadline.isoformat(),
    )
    _replan(session, item, team=team, now=now)
    _emit(session, portal=portal, team=team, name=events.REOPENED, item=item, actor=actor, at=now)
    return item


def extend_deadline(
    session: Session,
    *,
    item: ActionItem,
    actor: User,
    data: DeadlineExtensionIn,
    now: datetime | None = None,
) -> ActionItem:
    """Move an open item's deadline later, with a reason, within the team's limit of extensions.
    A new deadline is a decision: it ends an escalation."""
    now = now or utcnow()
    _require_open(item, "given a new deadline")
    reason = _require_reason(data.reason)
    team = session.get_one(Team, item.team_id)
    rules = settings_for(session, team=team)
    if item.extensions_used >= rules.max_extensions:
        raise OpsyardError(
            EXTENSIONS_EXHAUSTED,
            f"Item {item.id}'s deadline has moved {item.extensions_used} times, the team's "
            f"limit of {rules.max_extensions}.",
            extra={"max_extensions": rules.max_extensions},
        )
    calendar = calendar_for(session, team=team)
    deadline, rule = parse_deadline(data.deadline, calendar=calendar, today=now.date())
    if deadline <= item.deadline:
        raise OpsyardError(
            INVALID_DEADLINE,
            f"{deadline} is not after the current deadline {item.deadline}.",
            fields=[FieldProblem("/deadline", f"Give a day after {item.deadline}.")],
        )
    old_deadline, was_escalated = item.deadline, item.escalated_at is not None
    item.deadline, item.deadline_rule = deadline, rule
    item.escalate_after = max(item.escalate_after, sprint_end(calendar, deadline))
    item.extensions_used += 1
    item.decision_needed = False
    _clear_ladder(item)
    _record(
        session,
        item,
        kind="deadline_extended",
        actor=actor,
        at=now,
        reason=reason,
        old_deadline=old_deadline.isoformat(),
        deadline=deadline.isoformat(),
        deadline_rule=rule,
        extensions_used=item.extensions_used,
        was_escalated=was_escalated,
    )
    _replan(session, item, team=team, now=now)
    return item


def change_owner(
    session: Session, *, item: ActionItem, actor: User, owner_id: int, now: datetime | None = None
) -> ActionItem:
    """Hand an open item to another member of the team."""
    now = now or utcnow()
    _require_open(item, "handed to another owner")
    team = session.get_one(Team, item.team_id)
    owner = teams.require_member(
        session, team=team, user_id=owner_id, error=OWNER_NOT_MEMBER, pointer="/owner_id"
    )
    if owner.id == item.owner_id:
        return item
    previous = item.owner.email
    item.owner_id = owner.id
    item.owner = owner
    _record(session, item, kind="owner_changed", actor=actor, at=now, old=previous, new=owner.email)
    _replan(session, item, team=team, now=now)
    return item


def link_tracker(
    session: Session, *, item: ActionItem, actor: User | None, url: str, now: datetime | None = None
) -> ActionItem:
    """Link the item to a tracker issue; a GitHub issue is then found by its webhook."""
    now = now or utcnow()
    try:
        checked = TrackerLinkIn.model_validate({"url": url})
    except ValidationError:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{url!r} is not a web address.",
            fields=[FieldProblem("/url", "Give the issue's http:// or https:// address.")],
        ) from None
    team = session.get_one(Team, item.team_id)
    item.tracker_url = checked.url
    item.tracker_key = tracker_key_of(checked.url)
    _record(
        session,
        item,
        kind="tracker_linked",
        actor=actor,
        at=now,
        url=checked.url,
        key=item.tracker_key,
    )
    _replan(session, item, team=team, now=now)
    return item


def mark_decision_needed(
    session: Session, *, item: ActionItem, evidence_url: str, note: str, now: datetime | None = None
) -> ActionItem:
    """Flag an open item whose linked issue was closed as not planned: its owner must decide
    (done, a new deadline, or deprioritized). Closed items are left alone."""
    now = now or utcnow()
    if item.status != OPEN:
        return item
    team = session.get_one(Team, item.team_id)
    item.decision_needed = True
    _record(
        session,
        item,
        kind="decision_needed",
        actor=None,
        at=now,
        evidence_url=evidence_url,
        note=note,
    )
    _replan(session, item, team=team, now=now)
    return item


def item_history(session: Session, *, item: ActionItem) -> list[ItemHistory]:
    """Everything that happened to `item`, oldest first."""
    query = (
        select(ItemHistory)
        .where(ItemHistory.item_id == item.id)
        .order_by(ItemHistory.at, ItemHistory.id)
    )
    return list(session.scalars(query))
