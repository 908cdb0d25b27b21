"""Request and response bodies of the post-mortems plugin, shared by the API, the web and the CLI.

Markdown fields are stored exactly as typed; they are rendered with raw HTML disabled.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from opsyard.api.schemas import RowId, Strict
from opsyard.auth.models import User
from opsyard_postmortems.models import (
    OPEN,
    ActionItem,
    ItemHistory,
    Link,
    ParkingLotIdea,
    PostMortem,
    TeamSettings,
    TimelineEntry,
)
from opsyard_postmortems.settings import (
    DEFAULT_ESCALATE_AFTER_SPRINTS,
    DEFAULT_MAX_EXTENSIONS,
    DEFAULT_REMINDER_DAYS,
)

Severity = Literal["sev1", "sev2", "sev3", "sev4"]
MARKDOWN_MAX = 50_000
URL_MAX = 2048


def _web_url(value: str) -> str:
    # Links end up in pages, messages and exports: only http(s) with a host, so a
    # "javascript:" or "data:" URL never becomes clickable.
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("give an http:// or https:// address")
    return value


WebUrl = Annotated[str, Field(max_length=URL_MAX), AfterValidator(_web_url)]
Markdown = Annotated[str, Field(max_length=MARKDOWN_MAX)]


# -- inputs -------------------------------------------------------------------------------


class PostMortemIn(Strict):
    title: str = Field(min_length=1, max_length=200, examples=["Checkout errors after deploy"])
    severity: Severity
    incident_started_at: AwareDatetime
    incident_ended_at: AwareDatetime | None = None
    summary: Markdown = ""
    impact: Markdown = ""
    contributing_factors: Markdown = ""
    lessons: Markdown = ""
    author_ids: list[RowId] = Field(default_factory=list, description="User ids of team members.")
    reviewer_id: RowId | None = Field(default=None, description="A team member, not an author.")


class PostMortemPatch(Strict):
    """Only the fields sent are changed; null clears `incident_ended_at` and `reviewer_id`."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    severity: Severity | None = None
    incident_started_at: AwareDatetime | None = None
    incident_ended_at: AwareDatetime | None = None
    summary: Markdown | None = None
    impact: Markdown | None = None
    contributing_factors: Markdown | None = None
    lessons: Markdown | None = None
    author_ids: list[RowId] | None = None
    reviewer_id: RowId | None = None


class TimelineEntryIn(Strict):
    occurred_at: AwareDatetime
    text: str = Field(min_length=1, max_length=5000)


class LinkIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    url: WebUrl


class ActionItemIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: Markdown = ""
    owner_id: RowId = Field(description="The one owner: a member of the team.")
    deadline: str = Field(
        max_length=20,
        examples=["2026-03-31", "sprint+1"],
        description="A date (YYYY-MM-DD, not in the past) or 'sprint+k': the last day of "
        "the sprint k after the current one.",
    )
    tracker_url: WebUrl | None = None


class ItemDoneIn(Strict):
    """Evidence that the item is done: a link, a note, or both (at least one)."""

    evidence_url: WebUrl | None = None
    evidence_note: str | None = Field(default=None, max_length=5000)


class ItemDeprioritizeIn(Strict):
    reason: str = Field(default="", max_length=2000, description="Required: why it waits.")
    revisit_on: date = Field(description="When to look at it again; after today.")


class ItemReopenIn(Strict):
    reason: str = Field(default="", max_length=2000, description="Required: why it reopens.")
    deadline: str | None = Field(
        default=None,
        max_length=20,
        description="A new deadline; required when the old one has passed.",
    )


class DeadlineExtensionIn(Strict):
    deadline: str = Field(max_length=20, examples=["2026-04-15", "sprint+2"])
    reason: str = Field(default="", max_length=2000, description="Required: why it moves.")


class OwnerChangeIn(Strict):
    owner_id: RowId


class TrackerLinkIn(Strict):
    url: WebUrl = Field(examples=["https://github.com/acme/shop/issues/123"])


class IdeaIn(Strict):
    text: str = Field(min_length=1, max_length=2000)


class ReviewRequestIn(Strict):
    reviewer_id: RowId


class SettingsIn(Strict):
    escalate_after_sprints: int = Field(default=DEFAULT_ESCALATE_AFTER_SPRINTS, ge=1, le=12)
    max_extensions: int = Field(default=DEFAULT_MAX_EXTENSIONS, ge=0, le=10)
    reminder_days: int = Field(default=DEFAULT_REMINDER_DAYS, ge=0, le=14)
    team_lead_id: RowId | None = None
    escalation_contact_id: RowId | None = None
    drafts_from_alerts: bool = False


# -- outputs ------------------------------------------------------------------------------


def is_overdue(item: ActionItem, *, today: date) -> bool:
    """Whether `item` is still open after its deadline day."""
    return item.status == OPEN and item.deadline < today


class UserRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str

    @classmethod
    def of(cls, user: User | None) -> UserRef | None:
        return cls.model_validate(user) if user is not None else None


class ActionItemOut(BaseModel):
    id: int
    postmortem: int = Field(description="The post-mortem's number (PM-n).")
    title: str
    description: str
    owner: UserRef
    deadline: date
    deadline_rule: str | None
    created_sprint: str
    escalate_after: date
    status: str
    overdue: bool
    escalated: bool
    decision_needed: bool
    extensions_used: int
    next_step: str | None
    next_action_at: datetime | None
    evidence_url: str | None
    evidence_note: str | None
    deprioritized_reason: str | None
    deprioritized_by: UserRef | None
    revisit_on: date | None
    tracker_url: str | None
    created_at: datetime
    done_at: datetime | None

    @classmethod
    def from_row(cls, item: ActionItem, *, now: datetime) -> ActionItemOut:
        return cls(
            id=item.id,
            postmortem=item.postmortem.number,
            title=item.title,
            description=item.description,
            owner=UserRef.model_validate(item.owner),
            deadline=item.deadline,
            deadline_rule=item.deadline_rule,
            created_sprint=item.created_sprint,
            escalate_after=item.escalate_after,
            status=item.status,
            overdue=is_overdue(item, today=now.date()),
            escalated=item.status == OPEN and item.escalated_at is not None,
            decision_needed=item.decision_needed,
            extensions_used=item.extensions_used,
            next_step=item.next_step,
            next_action_at=item.next_action_at,
            evidence_url=item.evidence_url,
            evidence_note=item.evidence_note,
            deprioritized_reason=item.deprioritized_reason,
            deprioritized_by=UserRef.of(item.deprioritized_by),
            revisit_on=item.revisit_on,
            tracker_url=item.tracker_url,
            created_at=item.created_at,
            done_at=item.done_at,
        )


class ItemHistoryOut(BaseModel):
    id: int
    item_id: int
    kind: str
    at: datetime
    actor: UserRef | None = Field(description="Null for the system (the sweep, an integration).")
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: ItemHistory) -> ItemHistoryOut:
        return cls(
            id=row.id,
            item_id=row.item_id,
            kind=row.kind,
            at=row.at,
            actor=UserRef.of(row.actor),
            detail=dict(row.detail or {}),
        )


class IdeaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_by_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: ParkingLotIdea) -> IdeaOut:
        return cls.model_validate(row)


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    text: str

    @classmethod
    def from_row(cls, row: TimelineEntry) -> TimelineEntryOut:
        return cls.model_validate(row)


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    url: str

    @classmethod
    def from_row(cls, row: Link) -> LinkOut:
        return cls.model_validate(row)


class PostMortemSummaryOut(BaseModel):
    number: int
    reference: str = Field(examples=["PM-7"])
    title: str
    severity: str
    status: str
    incident_started_at: datetime
    open_items: int
    overdue_items: int

    @classmethod
    def from_row(cls, postmortem: PostMortem, *, now: datetime) -> PostMortemSummaryOut:
        today = now.date()
        return cls(
            number=postmortem.number,
            reference=postmortem.reference,
            title=postmortem.title,
            severity=postmortem.severity,
            status=postmortem.status,
            incident_started_at=postmortem.incident_started_at,
            open_items=sum(1 for item in postmortem.items if item.status == OPEN),
            overdue_items=sum(1 for item in postmortem.items if is_overdue(item, today=today)),
        )


class PostMortemOut(PostMortemSummaryOut):
    incident_ended_at: datetime | None
    summary: str
    impact: str
    contributing_factors: str
    lessons: str
    authors: list[UserRef]
    reviewer: UserRef | None
    approved_by: UserRef | None
    approved_at: datetime | None
    published_at: datetime | None
    source: str
    created_by: UserRef | None
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntryOut]
    links: list[LinkOut]
    items: list[ActionItemOut]
    ideas: list[IdeaOut]

    @classmethod
    def from_row(cls, postmortem: PostMortem, *, now: datetime) -> PostMortemOut:
        summary = PostMortemSummaryOut.from_row(postmortem, now=now)
        return cls(
            **summary.model_dump(),
            incident_ended_at=postmortem.incident_ended_at,
            summary=postmortem.summary,
            impact=postmortem.impact,
            contributing_factors=postmortem.contributing_factors,
            lessons=postmortem.lessons,
            authors=[UserRef.model_validate(author.user) for author in postmortem.authors],
            reviewer=UserRef.of(postmortem.reviewer),
            approved_by=UserRef.of(postmortem.approved_by),
            approved_at=postmortem.approved_at,
            published_at=postmortem.published_at,
            source=postmortem.source,
            created_by=UserRef.of(postmortem.created_by),
            created_at=postmortem.created_at,
            updated_at=postmortem.updated_at,
            timeline=[TimelineEntryOut.from_row(entry) for entry in postmortem.timeline],
            links=[LinkOut.from_row(link) for link in postmortem.links],
            items=[ActionItemOut.from_row(item, now=now) for item in postmortem.items],
            ideas=[IdeaOut.from_row(idea) for idea in postmortem.ideas],
        )


class SettingsOut(BaseModel):
    escalate_after_sprints: int
    max_extensions: int
    reminder_days: int
    team_lead: UserRef | None
    escalation_contact: UserRef | None
    drafts_from_alerts: bool

    @classmethod
    def from_row(cls, row: TeamSettings) -> SettingsOut:
        return cls(
            escalate_after_sprints=row.escalate_after_sprints,
            max_extensions=row.max_extensions,
            reminder_days=row.reminder_days,
            team_lead=UserRef.of(row.team_lead),
            escalation_contact=UserRef.of(row.escalation_contact),
            drafts_from_alerts=row.drafts_from_alerts,
        )
