"""The post-mortem pages' forms, read into the same schemas the API takes.

A form sends strings; blank means "not given". Each form class keeps what was typed, to show
it again beside the errors, and `parsed()` turns it into the API's schema. A value the schema
refuses becomes an `OpsyardError` naming the field, so the form shows the problem beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from opsyard import errors
from opsyard.errors import FieldProblem, OpsyardError
from opsyard_postmortems.schemas import (
    ActionItemIn,
    DeadlineExtensionIn,
    IdeaIn,
    ItemDeprioritizeIn,
    ItemDoneIn,
    ItemReopenIn,
    LinkIn,
    OwnerChangeIn,
    PostMortemIn,
    PostMortemPatch,
    SettingsIn,
    TimelineEntryIn,
    TrackerLinkIn,
)
from opsyard_web.pages import inputs

Schema = TypeVar("Schema", bound=BaseModel)
# The pages show and take every time in UTC, so all viewers read the same instant.
UTC_ZONE = ZoneInfo("UTC")


def validated(schema: type[Schema], values: Mapping[str, Any]) -> Schema:
    """`values` as `schema`, or an error listing each refused field."""
    try:
        return schema.model_validate(dict(values))
    except ValidationError as exc:
        fields = [
            FieldProblem("/" + "/".join(str(part) for part in problem["loc"]), _hint(problem))
            for problem in exc.errors()
        ]
        noun = "field needs" if len(fields) == 1 else "fields need"
        raise OpsyardError(
            errors.VALIDATION_FAILED, f"{len(fields)} {noun} fixing.", fields=fields
        ) from None


def _hint(problem: Mapping[str, Any]) -> str:
    if problem.get("type") == "missing":
        return "This field is required."
    message = str(problem.get("msg", "is not valid"))
    # pydantic prefixes errors raised by validators; people need only the advice.
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + "."


def blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None


def user_id(value: str, *, name: str) -> int | None:
    """A person chosen in a select (their user id), or None when nobody is chosen."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise inputs.invalid(name, f"{value!r} is not a person.", "Choose someone in the list.")
    return int(value)


def utc_instant(value: str, *, name: str, required: bool = True) -> datetime | None:
    """A ``datetime-local`` value read as UTC."""
    if not value.strip():
        if required:
            raise inputs.invalid(name, "A time is missing.", "Give a date and time (UTC).")
        return None
    return inputs.local_instant(value, name=name, zone=UTC_ZONE)


def local_value(value: datetime | None) -> str:
    """`value` as a ``datetime-local`` input shows it, in UTC."""
    if value is None:
        return ""
    return value.astimezone(UTC_ZONE).strftime("%Y-%m-%dT%H:%M")


class Fields(BaseModel):
    """A form as typed."""

    def values(self) -> dict[str, str]:
        """What to show in the form again: every single-valued field."""
        return {key: value for key, value in self.model_dump().items() if isinstance(value, str)}


class PostMortemFields(Fields):
    title: str = ""
    severity: str = ""
    incident_started_at: str = ""
    incident_ended_at: str = ""
    summary: str = ""

    def _window(self) -> dict[str, Any]:
        return {
            "title": self.title.strip(),
            "severity": self.severity,
            "incident_started_at": utc_instant(
                self.incident_started_at, name="incident_started_at"
            ),
            "incident_ended_at": utc_instant(
                self.incident_ended_at, name="incident_ended_at", required=False
            ),
        }

    def parsed(self, *, author_id: int) -> PostMortemIn:
        # Whoever writes it down is its first author; the page's header adds others.
        values = {**self._window(), "summary": self.summary, "author_ids": [author_id]}
        return validated(PostMortemIn, values)


class HeaderFields(PostMortemFields):
    author_ids: list[str] = []

    def parsed_patch(self) -> PostMortemPatch:
        people = [user_id(value, name="author_ids") for value in self.author_ids]
        values = {**self._window(), "author_ids": [p for p in people if p is not None]}
        return validated(PostMortemPatch, values)


class SectionFields(Fields):
    text: str = ""

    def parsed(self, *, section: str) -> PostMortemPatch:
        return validated(PostMortemPatch, {section: self.text})


class TimelineFields(Fields):
    occurred_at: str = ""
    text: str = ""

    def parsed(self) -> TimelineEntryIn:
        when = utc_instant(self.occurred_at, name="occurred_at")
        return validated(TimelineEntryIn, {"occurred_at": when, "text": self.text.strip()})


class LinkFields(Fields):
    title: str = ""
    url: str = ""

    def parsed(self) -> LinkIn:
        return validated(LinkIn, {"title": self.title.strip(), "url": self.url.strip()})


class ItemFields(Fields):
    title: str = ""
    description: str = ""
    owner_id: str = ""
    deadline: str = ""
    tracker_url: str = ""

    def parsed(self) -> ActionItemIn:
        owner = user_id(self.owner_id, name="owner_id")
        if owner is None:
            raise inputs.invalid("owner_id", "An item needs an owner.", "Choose one person.")
        values = {
            "title": self.title.strip(),
            "description": self.description,
            "owner_id": owner,
            "deadline": self.deadline.strip(),
            "tracker_url": blank_to_none(self.tracker_url),
        }
        return validated(ActionItemIn, values)


class DoneFields(Fields):
    evidence_url: str = ""
    evidence_note: str = ""

    def parsed(self) -> ItemDoneIn:
        values = {
            "evidence_url": blank_to_none(self.evidence_url),
            "evidence_note": blank_to_none(self.evidence_note),
        }
        return validated(ItemDoneIn, values)


class DeprioritizeFields(Fields):
    reason: str = ""
    revisit_on: str = ""

    def parsed(self) -> ItemDeprioritizeIn:
        revisit = inputs.calendar_date(self.revisit_on, name="revisit_on")
        return validated(ItemDeprioritizeIn, {"reason": self.reason.strip(), "revisit_on": revisit})


class ReopenFields(Fields):
    reason: str = ""
    deadline: str = ""

    def parsed(self) -> ItemReopenIn:
        values = {"reason": self.reason.strip(), "deadline": blank_to_none(self.deadline)}
        return validated(ItemReopenIn, values)


class ExtendFields(Fields):
    deadline: str = ""
    reason: str = ""

    def parsed(self) -> DeadlineExtensionIn:
        values = {"deadline": self.deadline.strip(), "reason": self.reason.strip()}
        return validated(DeadlineExtensionIn, values)


class OwnerFields(Fields):
    owner_id: str = ""

    def parsed(self) -> OwnerChangeIn:
        return validated(OwnerChangeIn, {"owner_id": user_id(self.owner_id, name="owner_id")})


class TrackerFields(Fields):
    url: str = ""

    def parsed(self) -> TrackerLinkIn:
        return validated(TrackerLinkIn, {"url": self.url.strip()})


class IdeaFields(Fields):
    text: str = ""

    def parsed(self) -> IdeaIn:
        return validated(IdeaIn, {"text": self.text.strip()})


class ReviewerFields(Fields):
    reviewer_id: str = ""

    def parsed(self) -> int:
        chosen = user_id(self.reviewer_id, name="reviewer_id")
        if chosen is None:
            raise inputs.invalid(
                "reviewer_id", "Nobody is chosen to review.", "Choose a member who is no author."
            )
        return chosen


class SettingsFields(Fields):
    escalate_after_sprints: str = ""
    max_extensions: str = ""
    reminder_days: str = ""
    team_lead_id: str = ""
    escalation_contact_id: str = ""
    drafts_from_alerts: str = ""

    def parsed(self) -> SettingsIn:
        values = {
            "escalate_after_sprints": self.escalate_after_sprints.strip(),
            "max_extensions": self.max_extensions.strip(),
            "reminder_days": self.reminder_days.strip(),
            "team_lead_id": user_id(self.team_lead_id, name="team_lead_id"),
            "escalation_contact_id": user_id(
                self.escalation_contact_id, name="escalation_contact_id"
            ),
            # An unticked checkbox sends nothing.
            "drafts_from_alerts": bool(self.drafts_from_alerts),
        }
        return validated(SettingsIn, values)
