"""The post-mortems pages, under /t/{team}/postmortems/.

Everyone in the team reads them; members and owners change post-mortems and their action
items, owners change the team's rules. Each part of a post-mortem's page (header, sections,
timeline, action items with the parking lot, links) is a component that replaces itself:
its forms answer with that block of the page, carrying the form's errors when the service
refused the change. Which controls appear is decided here for convenience only; every route
checks the role again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamContext, TeamMember, TeamOwner
from opsyard.api.schemas import PathId
from opsyard.calendars.service import calendar_for
from opsyard.calendars.sprints import upcoming
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard_postmortems import export, items, metrics, parking_lot, postmortems
from opsyard_postmortems.errors import NOT_FOUND, TOO_MANY_ITEMS
from opsyard_postmortems.forms import (
    DeprioritizeFields,
    DoneFields,
    ExtendFields,
    HeaderFields,
    IdeaFields,
    ItemFields,
    LinkFields,
    OwnerFields,
    PostMortemFields,
    ReopenFields,
    ReviewerFields,
    SectionFields,
    SettingsFields,
    TimelineFields,
    TrackerFields,
    local_value,
)
from opsyard_postmortems.models import (
    DRAFT,
    IN_REVIEW,
    OPEN,
    POSTMORTEM_STATUSES,
    SEVERITIES,
    ActionItem,
    ItemHistory,
    PostMortem,
)
from opsyard_postmortems.schemas import PostMortemSummaryOut
from opsyard_postmortems.settings import settings_for, update_settings
from opsyard_web.forms import FormState
from opsyard_web.rendering import render

PLUGIN = "postmortems"

router = APIRouter()


LIST_TEMPLATE = "postmortems/list.html"
PAGE_TEMPLATE = "postmortems/postmortem.html"

# The Markdown sections of a post-mortem, in the order the page shows them.
SECTIONS = (
    ("summary", "Summary", "What happened, in a few sentences."),
    ("impact", "Impact", "Who was affected, how badly, for how long."),
    ("contributing_factors", "Contributing factors", "What made it possible or worse."),
    ("lessons", "Lessons", "What the team learned, including what went well."),
)
SECTION_NAMES = tuple(name for name, _, _ in SECTIONS)
STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "published": "Published"}
HISTORY_LABELS = {
    "created": "Created",
    "reminded": "Owner reminded",
    "overdue": "Overdue: owner and team lead told",
    "escalated": "Escalated to the escalation contact",
    "done": "Marked done",
    "reopened": "Reopened",
    "deprioritized": "Deprioritized",
    "deadline_extended": "Deadline moved",
    "owner_changed": "Owner changed",
    "tracker_linked": "Tracker issue linked",
    "decision_needed": "Decision needed",
}


def base_url(access: TeamContext) -> str:
    return f"/t/{access.team.slug}/{PLUGIN}"


def _people(session: Session, access: TeamContext) -> list[tuple[str, str]]:
    """The team's members who can own items and review: everyone but viewers."""
    return [
        (str(member.user_id), member.user.display_name)
        for member in teams.members(session, access.team)
        if Role(member.role).allows(Role.MEMBER)
    ]


def _refusal(session: Session, exc: OpsyardError) -> None:
    """Undo the refused change; errors that are not the user's to fix go to the error page."""
    if exc.error.status >= 500:
        raise exc
    session.rollback()


# -- the list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    status: str = ""
    severity: str = ""
    overdue: bool = False

    @property
    def any(self) -> bool:
        return bool(self.status or self.severity or self.overdue)


def list_context(
    session: Session, access: TeamContext, filters: ListFilters, form: FormState | None = None
) -> dict[str, Any]:
    now = utcnow()
    found = postmortems.list_postmortems(
        session,
        team=access.team,
        status=filters.status or None,
        severity=filters.severity or None,
        overdue=filters.overdue,
        now=now,
    )
    started = local_value(now.replace(minute=0, second=0, microsecond=0))
    return {
        "base": base_url(access),
        "rows": [PostMortemSummaryOut.from_row(row, now=now) for row in found],
        "filters": filters,
        "filter_form": FormState(values={"status": filters.status, "severity": filters.severity}),
        "status_options": [("", "Any status"), *STATUS_LABELS.items()],
        "severity_options": [("", "Any severity"), *((s, s.upper()) for s in SEVERITIES)],
        "status_labels": STATUS_LABELS,
        "can_edit": access.role.allows(Role.MEMBER),
        "new_form": form or FormState(values={"severity": "sev3", "incident_started_at": started}),
        "severity_choices": [(s, s.upper()) for s in SEVERITIES],
    }


@router.get("/")
def list_page(
    request: Request,
    access: TeamAccess,
    session: DbSession,
    status: Annotated[str, Query()] = "",
    severity: Annotated[str, Query()] = "",
    overdue: Annotated[str, Query()] = "",
) -> Response:
    # An unknown value in the address shows everything: the filter form sends known ones.
    filters = ListFilters(
        status=status if status in POSTMORTEM_STATUSES else "",
        severity=severity if severity in SEVERITIES else "",
        overdue=overdue == "true",
    )
    context = list_context(session, access, filters)
    return render(request, LIST_TEMPLATE, context, block_name="table", session=session)


@router.post("/")
def create_postmortem(
    request: Request,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    fields: Annotated[PostMortemFields, Form()],
) -> Response:
    try:
        created = postmortems.create_postmortem(
            session,
            portal=portal,
            team=access.team,
            actor=access.user,
            data=fields.parsed(author_id=access.user.id),
        )
    except OpsyardError as exc:
        _refusal(session, exc)
        form = FormState.failed(exc, fields.values())
        context = list_context(session, access, ListFilters(), form)
        return render(
            request, LIST_TEMPLATE, context, status_code=exc.error.status, session=session
        )
    # The form is boosted: htmx follows the redirect and shows the new page at its address.
    return RedirectResponse(f"{base_url(access)}/{created.number}", status_code=303)


# -- my action items, follow-through, settings --------------------------------------------


@dataclass(frozen=True)
class MyItem:
    item: ActionItem
    url: str
    overdue: bool
    escalated: bool


@dataclass(frozen=True)
class TeamItems:
    team_name: str
    team_slug: str
    items: list[MyItem]


@router.get("/mine")
def mine_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    now = utcnow()
    using = [
        team
        for team, _ in teams.teams_of(session, access.user)
        if teams.is_enabled(session, team, PLUGIN)
    ]
    found = items.list_items(
        session, team_ids=[t.id for t in using], owner_id=access.user.id, status=OPEN, now=now
    )
    groups = []
    for team in using:
        rows = [
            MyItem(
                item=item,
                url=f"/t/{team.slug}/{PLUGIN}/{item.postmortem.number}#item-{item.id}",
                overdue=item.deadline < now.date(),
                escalated=item.escalated_at is not None,
            )
            for item in found
            if item.team_id == team.id
        ]
        # What needs attention first: escalated, then overdue, then by deadline.
        rows.sort(key=lambda row: (not row.escalated, not row.overdue, row.item.deadline))
        groups.append(TeamItems(team.name, team.slug, rows))
    # The team being looked at comes first.
    groups.sort(key=lambda group: (group.team_slug != access.team.slug, group.team_name))
    context = {"groups": groups, "base": base_url(access)}
    return render(request, "postmortems/mine.html", context, session=session)


@router.get("/dashboard")
def dashboard_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    now = utcnow()
    context = {
        "base": base_url(access),
        "overall": metrics.follow_through(session, team=access.team, now=now),
        # Newest first in the table; by_sprint runs oldest first.
        "rows": list(reversed(metrics.by_sprint(session, team=access.team, now=now))),
        "today": now.date(),
    }
    return render(request, "postmortems/dashboard.html", context, session=session)


def settings_context(
    session: Session, access: TeamContext, form: FormState | None = None
) -> dict[str, Any]:
    rules = settings_for(session, team=access.team)
    today = utcnow().date()
    values = {
        "escalate_after_sprints": str(rules.escalate_after_sprints),
        "max_extensions": str(rules.max_extensions),
        "reminder_days": str(rules.reminder_days),
        "team_lead_id": str(rules.team_lead_id or ""),
        "escalation_contact_id": str(rules.escalation_contact_id or ""),
        "drafts_from_alerts": "true" if rules.drafts_from_alerts else "",
    }
    return {
        "base": base_url(access),
        "rules": rules,
        "form": form or FormState(values=values),
        "can_manage": access.role.allows(Role.OWNER),
        "people_options": [("", "Nobody"), *_people(session, access)],
        "sprints": upcoming(calendar_for(session, team=access.team), today, 4),
    }


@router.get("/settings")
def settings_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    context = settings_context(session, access)
    return render(request, "postmortems/settings.html", context, session=session)


@router.post("/settings")
def save_settings(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    fields: Annotated[SettingsFields, Form()],
) -> Response:
    status_code = 200
    try:
        update_settings(session, team=access.team, actor=access.user, data=fields.parsed())
        session.flush()
        context = settings_context(session, access)
        context["form"].done = (
            "Saved. Reminders of open items are planned again; the escalation window applies "
            "to items created from now on."
        )
    except OpsyardError as exc:
        _refusal(session, exc)
        status_code = exc.error.status
        context = settings_context(session, access, FormState.failed(exc, fields.values()))
    return render(
        request,
        "postmortems/settings.html",
        context,
        block_name="rules",
        status_code=status_code,
        session=session,
    )


# -- one post-mortem ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    label: str
    actor: str
    detail: list[tuple[str, str]]


@dataclass(frozen=True)
class ItemView:
    item: ActionItem
    overdue: bool
    escalated: bool
    extensions_left: int
    history: list[HistoryLine]


@dataclass
class Forms:
    """The forms an answer shows with errors or a done message; the others start blank."""

    header: FormState | None = None
    review: FormState | None = None
    sections: dict[str, FormState] = field(default_factory=dict)
    timeline: FormState | None = None
    links: FormState | None = None
    new_item: FormState | None = None
    too_many: bool = False
    idea: FormState | None = None
    followup: FormState | None = None
    # One item's form that failed or succeeded: (item id, action) -> its state.
    item: dict[tuple[int, str], FormState] = field(default_factory=dict)

    def item_form(
        self, item_id: int, action: str, defaults: dict[str, str] | None = None
    ) -> FormState:
        """That item's form as the answer left it, or blank with `defaults`."""
        return self.item.get((item_id, action)) or FormState(values=dict(defaults or {}))

    def item_open(self, item_id: int, action: str) -> bool:
        """Whether that item's form stays unfolded: it has errors to show."""
        state = self.item.get((item_id, action))
        return state is not None and bool(state.message)


def _history_line(row: ItemHistory) -> HistoryLine:
    detail = [
        (key.replace("_", " "), str(value))
        for key, value in (row.detail or {}).items()
        if value not in (None, "")
    ]
    return HistoryLine(
        at=row.at,
        label=HISTORY_LABELS.get(row.kind, row.kind.replace("_", " ").capitalize()),
        actor=row.actor.display_name if row.actor else "opsyard",
        detail=detail,
    )


def _item_view(session: Session, item: ActionItem, *, today: date, max_ext: int) -> ItemView:
    return ItemView(
        item=item,
        overdue=item.status == OPEN and item.deadline < today,
        escalated=item.status == OPEN and item.escalated_at is not None,
        extensions_left=max(0, max_ext - item.extensions_used),
        history=[_history_line(row) for row in items.item_history(session, item=item)],
    )


def page_context(
    session: Session, access: TeamContext, postmortem: PostMortem, forms: Forms | None = None
) -> dict[str, Any]:
    """Everything the post-mortem's page shows, for the whole page or any of its blocks."""
    forms = forms or Forms()
    today = utcnow().date()
    rules = settings_for(session, team=access.team)
    can_edit = access.role.allows(Role.MEMBER)
    authors = {author.user_id for author in postmortem.authors}
    people = _people(session, access)
    approved = postmortem.approved_by_id is not None
    in_review = postmortem.status == IN_REVIEW
    header = {
        "title": postmortem.title,
        "severity": postmortem.severity,
        "incident_started_at": local_value(postmortem.incident_started_at),
        "incident_ended_at": local_value(postmortem.incident_ended_at),
    }
    return {
        "base": base_url(access),
        "pm": postmortem,
        "status_labels": STATUS_LABELS,
        "sections": [(n, label, hint, getattr(postmortem, n)) for n, label, hint in SECTIONS],
        "section_forms": {
            name: forms.sections.get(name) or FormState(values={"text": getattr(postmortem, name)})
            for name in SECTION_NAMES
        },
        "items": [
            _item_view(session, item, today=today, max_ext=rules.max_extensions)
            for item in postmortem.items
        ],
        "max_items": items.MAX_ITEMS,
        "forms": forms,
        "header_form": forms.header or FormState(values=header),
        "author_ids": [str(author) for author in authors],
        "author_choices": [(value, name, "") for value, name in people],
        "review_form": forms.review or FormState(),
        "timeline_form": forms.timeline
        or FormState(values={"occurred_at": header["incident_started_at"]}),
        "links_form": forms.links or FormState(),
        "item_form": forms.new_item or FormState(values={"deadline": "sprint+1"}),
        "idea_form": forms.idea or FormState(),
        "followup_message": forms.followup or FormState(),
        "can_edit": can_edit,
        "owner_options": [("", "Choose…"), *people],
        "reviewer_options": [("", "Choose…"), *(p for p in people if int(p[0]) not in authors)],
        "severity_choices": [(s, s.upper()) for s in SEVERITIES],
        # The review flow: each button for whom it applies; the service checks again.
        "may_request_review": can_edit and postmortem.status == DRAFT,
        "may_approve": in_review and postmortem.reviewer_id == access.user.id and not approved,
        "may_publish": can_edit and in_review and approved,
        "may_return": can_edit and in_review,
    }


def _load(session: Session, access: TeamContext, number: int) -> PostMortem:
    return postmortems.get_postmortem(session, team=access.team, number=number)


@router.get("/{number}")
def postmortem_page(
    request: Request, number: PathId, access: TeamAccess, session: DbSession
) -> Response:
    context = page_context(session, access, _load(session, access, number))
    return render(request, PAGE_TEMPLATE, context, session=session)


@router.get("/{number}/export.md")
def export_markdown(number: PathId, access: TeamAccess, session: DbSession) -> Response:
    postmortem = _load(session, access, number)
    name = f"{access.team.slug}-{postmortem.reference}.md"
    return Response(
        export.to_markdown(postmortem),
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _act(
    request: Request,
    session: Session,
    access: TeamContext,
    number: int,
    block: str,
    change: Callable[[PostMortem], Forms],
    failed: Callable[[OpsyardError], Forms],
) -> HTMLResponse:
    """Make `change` to post-mortem `number` and answer with `block`; when the service
    refuses, roll back and show `failed(error)` in the block, with the error's status."""
    postmortem = _load(session, access, number)
    try:
        forms = change(postmortem)
        session.flush()
        status_code = 200
    except OpsyardError as exc:
        _refusal(session, exc)
        forms, status_code = failed(exc), exc.error.status
    # Read again: relationships loaded before the change (items, ideas, timeline) are stale.
    session.expire_all()
    context = page_context(session, access, _load(session, access, number), forms)
    return render(
        request,
        PAGE_TEMPLATE,
        context,
        block_name=block,
        status_code=status_code,
        session=session,
    )


def _failed(name: str, values: dict[str, str] | None = None) -> Callable[[OpsyardError], Forms]:
    """Show the error at the form `name` of `Forms`, with what was typed."""

    def failed(exc: OpsyardError) -> Forms:
        forms = Forms()
        setattr(forms, name, FormState.failed(exc, values))
        return forms

    return failed


# The header: details and the review flow.


@router.post("/{number}/header")
def edit_header(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[HeaderFields, Form()],
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        data = fields.parsed_patch()
        postmortems.update_postmortem(session, postmortem=postmortem, actor=access.user, data=data)
        return Forms(header=FormState(done="Details saved."))

    failed = _failed("header", fields.values())
    return _act(request, session, access, number, "header", change, failed)


def _review(
    request: Request,
    session: Session,
    access: TeamContext,
    number: int,
    step: Callable[[PostMortem], str],
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    def change(postmortem: PostMortem) -> Forms:
        return Forms(review=FormState(done=step(postmortem)))

    return _act(request, session, access, number, "header", change, _failed("review", values))


@router.post("/{number}/review/request")
def request_review(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[ReviewerFields, Form()],
) -> Response:
    def step(postmortem: PostMortem) -> str:
        postmortems.request_review(
            session, postmortem=postmortem, actor=access.user, reviewer_id=fields.parsed()
        )
        return "Review requested."

    return _review(request, session, access, number, step, fields.values())


@router.post("/{number}/review/approve")
def approve(request: Request, number: PathId, access: TeamMember, session: DbSession) -> Response:
    def step(postmortem: PostMortem) -> str:
        postmortems.approve(session, postmortem=postmortem, actor=access.user)
        return "Approved: it can be published."

    return _review(request, session, access, number, step)


@router.post("/{number}/review/publish")
def publish(
    request: Request, number: PathId, access: TeamMember, session: DbSession, portal: Portal
) -> Response:
    def step(postmortem: PostMortem) -> str:
        postmortems.publish(session, portal=portal, postmortem=postmortem, actor=access.user)
        return "Published."

    return _review(request, session, access, number, step)


@router.post("/{number}/review/draft")
def return_to_draft(
    request: Request, number: PathId, access: TeamMember, session: DbSession
) -> Response:
    def step(postmortem: PostMortem) -> str:
        postmortems.return_to_draft(session, postmortem=postmortem, actor=access.user)
        return "Back to draft; the approval is cleared."

    return _review(request, session, access, number, step)


# The Markdown sections, the timeline and the links.


@router.post("/{number}/sections/{name}")
def edit_section(
    request: Request,
    number: PathId,
    name: str,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[SectionFields, Form()],
) -> Response:
    if name not in SECTION_NAMES:
        raise OpsyardError(NOT_FOUND, f"A post-mortem has no section {name!r}.")

    def change(postmortem: PostMortem) -> Forms:
        data = fields.parsed(section=name)
        postmortems.update_postmortem(session, postmortem=postmortem, actor=access.user, data=data)
        return Forms(sections={name: FormState(values=fields.values(), done="Saved.")})

    def failed(exc: OpsyardError) -> Forms:
        # The schema names the section's field; the form calls it "text".
        return Forms(
            sections={name: FormState.failed(exc, fields.values(), renamed={name: "text"})}
        )

    return _act(request, session, access, number, "sections", change, failed)


@router.post("/{number}/timeline")
def add_timeline_entry(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[TimelineFields, Form()],
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        postmortems.add_timeline_entry(
            session, postmortem=postmortem, actor=access.user, data=fields.parsed()
        )
        # The time stays for the next entry, which usually follows closely.
        return Forms(timeline=FormState(values={"occurred_at": fields.occurred_at}, done="Added."))

    failed = _failed("timeline", fields.values())
    return _act(request, session, access, number, "timeline", change, failed)


@router.post("/{number}/timeline/{entry_id}/delete")
def delete_timeline_entry(
    request: Request, number: PathId, entry_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        postmortems.delete_timeline_entry(
            session, postmortem=postmortem, entry_id=entry_id, actor=access.user
        )
        return Forms(timeline=FormState(done="Entry removed."))

    return _act(request, session, access, number, "timeline", change, _failed("timeline"))


@router.post("/{number}/links")
def add_link(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[LinkFields, Form()],
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        postmortems.add_link(
            session, postmortem=postmortem, actor=access.user, data=fields.parsed()
        )
        return Forms(links=FormState(done="Link added."))

    return _act(
        request, session, access, number, "links", change, _failed("links", fields.values())
    )


@router.post("/{number}/links/{link_id}/delete")
def delete_link(
    request: Request, number: PathId, link_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        postmortems.delete_link(session, postmortem=postmortem, link_id=link_id, actor=access.user)
        return Forms(links=FormState(done="Link removed."))

    return _act(request, session, access, number, "links", change, _failed("links"))


# Action items and the parking lot: one component, so a refused fourth item can offer the
# parking lot right where the refusal is shown.


@router.post("/{number}/items")
def add_item(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    fields: Annotated[ItemFields, Form()],
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        item = items.add_item(
            session, portal=portal, postmortem=postmortem, actor=access.user, data=fields.parsed()
        )
        return Forms(followup=FormState(done=f"“{item.title}” is added."))

    def failed(exc: OpsyardError) -> Forms:
        form = FormState.failed(exc, fields.values())
        if exc.error != TOO_MANY_ITEMS:
            return Forms(new_item=form)
        # The rule, not only the refusal; and what was typed becomes the idea, so moving it
        # to the parking lot is one click.
        form.remediation = exc.error.remediation
        idea = "\n\n".join(
            text for text in (fields.title.strip(), fields.description.strip()) if text
        )
        return Forms(new_item=form, too_many=True, idea=FormState(values={"text": idea}))

    return _act(request, session, access, number, "followup", change, failed)


def _on_item(
    request: Request,
    session: Session,
    access: TeamContext,
    number: int,
    item_id: int,
    action: str,
    values: dict[str, str],
    apply: Callable[[ActionItem], str],
) -> HTMLResponse:
    """Apply `action` to one item of post-mortem `number`; its answer (done or refused) is
    shown beside that item's form."""

    def change(postmortem: PostMortem) -> Forms:
        item = items.get_item(session, team=access.team, item_id=item_id)
        if item.postmortem_id != postmortem.id:
            raise OpsyardError(NOT_FOUND, f"{postmortem.reference} has no action item {item_id}.")
        return Forms(item={(item_id, action): FormState(done=apply(item))})

    def failed(exc: OpsyardError) -> Forms:
        if exc.error.status == 404:
            return Forms(followup=FormState.failed(exc))
        return Forms(item={(item_id, action): FormState.failed(exc, values)})

    return _act(request, session, access, number, "followup", change, failed)


@router.post("/{number}/items/{item_id}/done")
def complete_item(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    fields: Annotated[DoneFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        data = fields.parsed()
        items.complete_item(session, portal=portal, item=item, actor=access.user, data=data)
        return "Marked done."

    return _on_item(request, session, access, number, item_id, "done", fields.values(), apply)


@router.post("/{number}/items/{item_id}/deprioritize")
def deprioritize_item(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    fields: Annotated[DeprioritizeFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        data = fields.parsed()
        items.deprioritize_item(session, portal=portal, item=item, actor=access.user, data=data)
        return "Deprioritized, with the reason on record."

    values = fields.values()
    return _on_item(request, session, access, number, item_id, "deprioritize", values, apply)


@router.post("/{number}/items/{item_id}/reopen")
def reopen_item(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    fields: Annotated[ReopenFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        data = fields.parsed()
        items.reopen_item(session, portal=portal, item=item, actor=access.user, data=data)
        return "Reopened."

    return _on_item(request, session, access, number, item_id, "reopen", fields.values(), apply)


@router.post("/{number}/items/{item_id}/extend")
def extend_deadline(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[ExtendFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        items.extend_deadline(session, item=item, actor=access.user, data=fields.parsed())
        return f"The deadline is now {item.deadline.isoformat()}."

    return _on_item(request, session, access, number, item_id, "extend", fields.values(), apply)


@router.post("/{number}/items/{item_id}/owner")
def change_owner(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[OwnerFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        owner_id = fields.parsed().owner_id
        items.change_owner(session, item=item, actor=access.user, owner_id=owner_id)
        return f"{item.owner.display_name} owns it now."

    return _on_item(request, session, access, number, item_id, "owner", fields.values(), apply)


@router.post("/{number}/items/{item_id}/tracker")
def link_tracker(
    request: Request,
    number: PathId,
    item_id: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[TrackerFields, Form()],
) -> Response:
    def apply(item: ActionItem) -> str:
        items.link_tracker(session, item=item, actor=access.user, url=fields.parsed().url)
        return "Tracker issue linked."

    return _on_item(request, session, access, number, item_id, "tracker", fields.values(), apply)


@router.post("/{number}/ideas")
def add_idea(
    request: Request,
    number: PathId,
    access: TeamMember,
    session: DbSession,
    fields: Annotated[IdeaFields, Form()],
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        parking_lot.add_idea(
            session, postmortem=postmortem, actor=access.user, data=fields.parsed()
        )
        return Forms(idea=FormState(done="In the parking lot."))

    failed = _failed("idea", fields.values())
    return _act(request, session, access, number, "followup", change, failed)


@router.post("/{number}/ideas/{idea_id}/delete")
def delete_idea(
    request: Request, number: PathId, idea_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    def change(postmortem: PostMortem) -> Forms:
        parking_lot.delete_idea(session, postmortem=postmortem, idea_id=idea_id, actor=access.user)
        return Forms(idea=FormState(done="Idea removed."))

    return _act(request, session, access, number, "followup", change, _failed("idea"))
