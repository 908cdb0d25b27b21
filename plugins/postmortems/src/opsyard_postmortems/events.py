"""The events the post-mortems plugin emits, with their payloads."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from opsyard.extension import EventType

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
