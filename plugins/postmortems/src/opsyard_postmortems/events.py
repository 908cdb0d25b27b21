"""The events the post-mortems plugin emits, with their payloads."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.events import service as core_events
from opsyard.extension import Event, EventType
from opsyard.teams.models import Team
from opsyard_postmortems.models import ActionItem, PostMortem

REMINDED = "postmortems.action_item.reminded"
OVERDUE = "postmortems.action_item.overdue"
ESCALATED = "postmortems.action_item.escalated"
COMPLETED = "postmortems.action_item.completed"
DEPRIORITIZED = "postmortems.action_item.deprioritized"
REOPENED = "postmortems.action_item.reopened"
PUBLISHED = "postmortems.postmortem.published"
DRAFTED_FROM_ALERT = "postmortems.postmortem.drafted_from_alert"


class ActionItemPayload(BaseModel):
    postmortem: int
    item_id: int
    title: str
    owner: str
    deadline: date
    status: str
    url: str


class PostMortemPayload(BaseModel):
    postmortem: int
    title: str
    severity: str
    status: str
    url: str


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(REMINDED, ActionItemPayload, "An owner was reminded of an item due soon."),
    EventType(OVERDUE, ActionItemPayload, "An item passed its deadline while still open."),
    EventType(
        ESCALATED,
        ActionItemPayload,
        "An item was still open after the team's number of sprints; the escalation contact "
        "was told.",
    ),
    EventType(COMPLETED, ActionItemPayload, "An item was marked done, with evidence."),
    EventType(DEPRIORITIZED, ActionItemPayload, "An item was deprioritized, with a reason."),
    EventType(REOPENED, ActionItemPayload, "A done or deprioritized item was reopened."),
    EventType(PUBLISHED, PostMortemPayload, "A reviewed post-mortem was published."),
    EventType(
        DRAFTED_FROM_ALERT, PostMortemPayload, "A resolved alert opened a draft post-mortem."
    ),
)


def postmortem_url(portal: PortalContext, *, team: Team, number: int) -> str:
    """The post-mortem's page, absolute, for messages and event payloads."""
    return f"{portal.settings.base_url.rstrip('/')}/t/{team.slug}/postmortems/{number}"


def emit_item(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    name: str,
    item: ActionItem,
    actor: User | None = None,
    at: datetime | None = None,
) -> Event:
    """Write an action item event in the caller's transaction."""
    number = item.postmortem.number
    payload = ActionItemPayload(
        postmortem=number,
        item_id=item.id,
        title=item.title,
        owner=item.owner.email,
        deadline=item.deadline,
        status=item.status,
        url=f"{postmortem_url(portal, team=team, number=number)}#item-{item.id}",
    )
    return core_events.emit(
        session,
        registry=portal.registry,
        team=team,
        name=name,
        payload=payload,
        actor=actor,
        at=at,
    )


def emit_postmortem(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    name: str,
    postmortem: PostMortem,
    actor: User | None = None,
    at: datetime | None = None,
) -> Event:
    """Write a post-mortem event in the caller's transaction."""
    payload = PostMortemPayload(
        postmortem=postmortem.number,
        title=postmortem.title,
        severity=postmortem.severity,
        status=postmortem.status,
        url=postmortem_url(portal, team=team, number=postmortem.number),
    )
    return core_events.emit(
        session,
        registry=portal.registry,
        team=team,
        name=name,
        payload=payload,
        actor=actor,
        at=at,
    )
