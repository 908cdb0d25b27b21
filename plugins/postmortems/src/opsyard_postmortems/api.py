"""/api/v1/teams/{team}/postmortems: post-mortems, their action items, settings and figures.

Every page action has a route here. The fixed paths (/items, /settings, /digest, /dashboard)
are declared before "/{number}", whose number is an int, so "/items" never reads as a number.
"""

from __future__ import annotations

from dataclasses import asdict
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamContext, TeamMember, TeamOwner
from opsyard.api.schemas import ROW_ID_MAX, PathId, RowId, Strict
from opsyard.calendars.schemas import SprintOut
from opsyard.calendars.service import calendar_for
from opsyard.calendars.sprints import Sprint
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard_postmortems import digest, export, items, metrics, parking_lot, postmortems
from opsyard_postmortems.metrics import FollowThrough
from opsyard_postmortems.models import OPEN, ActionItem, PostMortem
from opsyard_postmortems.schemas import (
    ActionItemIn,
    ActionItemOut,
    DeadlineExtensionIn,
    IdeaIn,
    IdeaOut,
    ItemDeprioritizeIn,
    ItemDoneIn,
    ItemHistoryOut,
    ItemReopenIn,
    LinkIn,
    LinkOut,
    OwnerChangeIn,
    PostMortemIn,
    PostMortemOut,
    PostMortemPatch,
    PostMortemSummaryOut,
    ReviewRequestIn,
    SettingsIn,
    SettingsOut,
    Severity,
    TimelineEntryIn,
    TimelineEntryOut,
    TrackerLinkIn,
)
from opsyard_postmortems.settings import settings_for, update_settings

PLUGIN = "postmortems"

router = APIRouter()

PostMortemStatus = Literal["draft", "in_review", "published"]
ItemStatus = Literal["open", "done", "deprioritized"]

# Ids and numbers are 32-bit integers in the database: a larger one cannot exist, and passing
# it on would make the database driver fail instead of the route answering.
Number = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The post-mortem's number: PM-n.")]
# A thousand sprints either side of the calendar's anchor is centuries; beyond that the
# sprint's dates would leave the calendar.
SPRINT_RANGE = 1000


# -- bodies and answers only the API has ----------------------------------------------------


class TeamActionItemOut(ActionItemOut):
    """An action item in a list that spans teams: which team it belongs to."""

    team: str = Field(examples=["payments"])


class DigestRequest(Strict):
    user_id: RowId | None = Field(
        default=None,
        description="Whose digest to send (owners only); default: the caller's.",
    )


class DigestOut(BaseModel):
    sent: int = Field(description="Digests sent (0 when the owner has no open items).")


class FollowThroughOut(BaseModel):
    sprint: SprintOut | None = Field(description="Null for the all-time figure.")
    items: int
    due: int
    done_on_time: int
    on_time_rate: float | None
    overdue: int
    median_open_age_days: float | None
    deprioritized_share: float | None
    escalations: int

    @classmethod
    def of(cls, figure: FollowThrough) -> FollowThroughOut:
        fields = asdict(figure)
        sprint = fields.pop("sprint")
        return cls(sprint=SprintOut(**sprint) if sprint is not None else None, **fields)


class DashboardOut(BaseModel):
    sprints: list[FollowThroughOut] = Field(
        description="Oldest first, ending with the current sprint; or the one asked for."
    )
    all_time: FollowThroughOut


# -- helpers --------------------------------------------------------------------------------


def _postmortem(session: Session, access: TeamContext, number: int) -> PostMortem:
    return postmortems.get_postmortem(session, team=access.team, number=number)


def _item(session: Session, access: TeamContext, item_id: int) -> ActionItem:
    return items.get_item(session, team=access.team, item_id=item_id)


def _item_out(item: ActionItem) -> ActionItemOut:
    return ActionItemOut.from_row(item, now=utcnow())


def _postmortem_out(postmortem: PostMortem) -> PostMortemOut:
    return PostMortemOut.from_row(postmortem, now=utcnow())


def _owner_filter(value: str | None, access: TeamContext) -> int | None:
    """The owner query parameter: "me" or a user id."""
    if value is None or value == "":
        return None
    if value == "me":
        return access.user.id
    if value.isdigit() and 1 <= int(value) <= ROW_ID_MAX:
        return int(value)
    raise OpsyardError(
        errors.VALIDATION_FAILED,
        f"owner={value!r} is neither 'me' nor a user id.",
        fields=[FieldProblem("/query/owner", "Use 'me' or a user's numeric id.")],
    )


def _sprint(session: Session, access: TeamContext, number: int) -> Sprint:
    """Sprint `number` of the team's calendar; refused when its dates would not exist."""
    try:
        return calendar_for(session, team=access.team).sprint_number(number)
    except OverflowError:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"Sprint {number} lies outside the calendar's range of dates.",
            fields=[FieldProblem("/query/sprint", "Choose a sprint nearer the present.")],
        ) from None


# -- post-mortems: the list and creation ------------------------------------------------------


@router.get("", response_model=list[PostMortemSummaryOut])
def list_postmortems(
    access: TeamAccess,
    session: DbSession,
    status: PostMortemStatus | None = None,
    severity: Severity | None = None,
    overdue: bool = False,
) -> list[PostMortemSummaryOut]:
    """The team's post-mortems, newest first; overdue=true keeps those with an overdue item."""
    now = utcnow()
    found = postmortems.list_postmortems(
        session, team=access.team, status=status, severity=severity, overdue=overdue, now=now
    )
    return [PostMortemSummaryOut.from_row(p, now=now) for p in found]


@router.post("", response_model=PostMortemOut, status_code=HTTPStatus.CREATED)
def create_postmortem(
    body: PostMortemIn, access: TeamMember, session: DbSession, portal: Portal
) -> PostMortemOut:
    """Start a post-mortem (a draft)."""
    postmortem = postmortems.create_postmortem(
        session, portal=portal, team=access.team, actor=access.user, data=body
    )
    return _postmortem_out(postmortem)


# -- action items -----------------------------------------------------------------------------


@router.get("/items", response_model=list[ActionItemOut])
def list_items(
    access: TeamAccess,
    session: DbSession,
    status: ItemStatus | None = None,
    owner: Annotated[str | None, Query(description="'me' or a user id.")] = None,
    overdue: bool = False,
    escalated: bool = False,
) -> list[ActionItemOut]:
    """The team's action items, filtered."""
    now = utcnow()
    found = items.list_items(
        session,
        team_ids=[access.team.id],
        owner_id=_owner_filter(owner, access),
        status=status,
        overdue=overdue,
        escalated=escalated,
        now=now,
    )
    return [ActionItemOut.from_row(item, now=now) for item in found]


@router.get("/items/mine", response_model=list[TeamActionItemOut])
def my_items(
    access: TeamAccess, session: DbSession, overdue: bool = False
) -> list[TeamActionItemOut]:
    """The caller's open items across every team of theirs that has switched post-mortems on
    (and that the caller's token may see)."""
    now = utcnow()
    slugs = {
        team.id: team.slug
        for team, _ in teams.teams_of(session, access.user)
        if access.principal.role_in(session, team) is not None
        and teams.is_enabled(session, team, PLUGIN)
    }
    found = items.list_items(
        session,
        team_ids=sorted(slugs),
        owner_id=access.user.id,
        status=OPEN,
        overdue=overdue,
        now=now,
    )
    return [
        TeamActionItemOut(
            **ActionItemOut.from_row(item, now=now).model_dump(), team=slugs[item.team_id]
        )
        for item in found
    ]


@router.get("/items/{item_id}", response_model=ActionItemOut)
def get_item(item_id: PathId, access: TeamAccess, session: DbSession) -> ActionItemOut:
    return _item_out(_item(session, access, item_id))


@router.get("/items/{item_id}/history", response_model=list[ItemHistoryOut])
def item_history(item_id: PathId, access: TeamAccess, session: DbSession) -> list[ItemHistoryOut]:
    """Everything that happened to the item, oldest first."""
    item = _item(session, access, item_id)
    return [ItemHistoryOut.from_row(row) for row in items.item_history(session, item=item)]


@router.post("/items/{item_id}/done", response_model=ActionItemOut)
def complete_item(
    item_id: PathId, body: ItemDoneIn, access: TeamMember, session: DbSession, portal: Portal
) -> ActionItemOut:
    """Mark the item done, with a link or a note as evidence."""
    item = _item(session, access, item_id)
    items.complete_item(session, portal=portal, item=item, actor=access.user, data=body)
    return _item_out(item)


@router.post("/items/{item_id}/deprioritize", response_model=ActionItemOut)
def deprioritize_item(
    item_id: PathId,
    body: ItemDeprioritizeIn,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
) -> ActionItemOut:
    """Decide not to do the item now: a reason and a revisit date are kept on record."""
    item = _item(session, access, item_id)
    items.deprioritize_item(session, portal=portal, item=item, actor=access.user, data=body)
    return _item_out(item)


@router.post("/items/{item_id}/reopen", response_model=ActionItemOut)
def reopen_item(
    item_id: PathId, body: ItemReopenIn, access: TeamMember, session: DbSession, portal: Portal
) -> ActionItemOut:
    """Reopen a done or deprioritized item (a new deadline when the old one has passed)."""
    item = _item(session, access, item_id)
    items.reopen_item(session, portal=portal, item=item, actor=access.user, data=body)
    return _item_out(item)


@router.post("/items/{item_id}/extend", response_model=ActionItemOut)
def extend_deadline(
    item_id: PathId, body: DeadlineExtensionIn, access: TeamMember, session: DbSession
) -> ActionItemOut:
    """Move the deadline, with a reason; the team limits how often."""
    item = _item(session, access, item_id)
    items.extend_deadline(session, item=item, actor=access.user, data=body)
    return _item_out(item)


@router.post("/items/{item_id}/owner", response_model=ActionItemOut)
def change_owner(
    item_id: PathId, body: OwnerChangeIn, access: TeamMember, session: DbSession
) -> ActionItemOut:
    """Hand the item to another member of the team."""
    item = _item(session, access, item_id)
    items.change_owner(session, item=item, actor=access.user, owner_id=body.owner_id)
    return _item_out(item)


@router.post("/items/{item_id}/tracker", response_model=ActionItemOut)
def link_tracker(
    item_id: PathId, body: TrackerLinkIn, access: TeamMember, session: DbSession
) -> ActionItemOut:
    """Link the item to a tracker issue; a closed GitHub issue then completes it."""
    item = _item(session, access, item_id)
    items.link_tracker(session, item=item, actor=access.user, url=body.url)
    return _item_out(item)


# -- settings, digest, dashboard --------------------------------------------------------------


@router.get("/settings", response_model=SettingsOut)
def get_settings(access: TeamAccess, session: DbSession) -> SettingsOut:
    """The team's post-mortem rules (defaults until an owner changes them)."""
    return SettingsOut.from_row(settings_for(session, team=access.team))


@router.put("/settings", response_model=SettingsOut)
def put_settings(body: SettingsIn, access: TeamOwner, session: DbSession) -> SettingsOut:
    """Change the team's rules (owners only); open items are re-planned."""
    row = update_settings(session, team=access.team, actor=access.user, data=body)
    return SettingsOut.from_row(row)


@router.post("/digest", response_model=DigestOut)
def send_digest(
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    body: Annotated[DigestRequest | None, Body()] = None,
) -> DigestOut:
    """Send the caller's digest of open items now; an owner may send anyone's."""
    user = access.user
    if body is not None and body.user_id is not None and body.user_id != access.user.id:
        access.require(Role.OWNER)
        user = teams.require_member(
            session,
            team=access.team,
            user_id=body.user_id,
            error=errors.VALIDATION_FAILED,
            pointer="/user_id",
            at_least=Role.VIEWER,
        )
    sent = digest.send_digest(session, portal=portal, team=access.team, user=user, now=utcnow())
    return DigestOut(sent=sent)


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(
    access: TeamAccess,
    session: DbSession,
    sprint: Annotated[
        int | None,
        Query(ge=-SPRINT_RANGE, le=SPRINT_RANGE, description="A sprint number; default: recent."),
    ] = None,
) -> DashboardOut:
    """Follow-through per sprint (the recent ones, or the one asked for) and all time."""
    now = utcnow()
    if sprint is None:
        figures = metrics.by_sprint(session, team=access.team, now=now)
    else:
        chosen = _sprint(session, access, sprint)
        figures = [metrics.follow_through(session, team=access.team, now=now, sprint=chosen)]
    return DashboardOut(
        sprints=[FollowThroughOut.of(figure) for figure in figures],
        all_time=FollowThroughOut.of(metrics.follow_through(session, team=access.team, now=now)),
    )


# -- one post-mortem --------------------------------------------------------------------------


@router.get("/{number}", response_model=PostMortemOut)
def get_postmortem(number: Number, access: TeamAccess, session: DbSession) -> PostMortemOut:
    return _postmortem_out(_postmortem(session, access, number))


@router.patch("/{number}", response_model=PostMortemOut)
def update_postmortem(
    number: Number, body: PostMortemPatch, access: TeamMember, session: DbSession
) -> PostMortemOut:
    """Change the fields sent; the others stay."""
    postmortem = _postmortem(session, access, number)
    postmortems.update_postmortem(session, postmortem=postmortem, actor=access.user, data=body)
    return _postmortem_out(postmortem)


@router.get(
    "/{number}/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "The post-mortem."}},
)
def export_postmortem(number: Number, access: TeamAccess, session: DbSession) -> Response:
    """The post-mortem as a Markdown file, PM-n.md."""
    postmortem = _postmortem(session, access, number)
    return Response(
        content=export.to_markdown(postmortem),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{postmortem.reference}.md"'},
    )


@router.post("/{number}/review", response_model=PostMortemOut)
def request_review(
    number: Number, body: ReviewRequestIn, access: TeamMember, session: DbSession
) -> PostMortemOut:
    """Send a draft for review; the reviewer is a member of the team who is not an author."""
    postmortem = _postmortem(session, access, number)
    postmortems.request_review(
        session, postmortem=postmortem, actor=access.user, reviewer_id=body.reviewer_id
    )
    return _postmortem_out(postmortem)


@router.post("/{number}/approve", response_model=PostMortemOut)
def approve(number: Number, access: TeamMember, session: DbSession) -> PostMortemOut:
    """The reviewer approves the post-mortem, which allows publishing it."""
    postmortem = _postmortem(session, access, number)
    postmortems.approve(session, postmortem=postmortem, actor=access.user)
    return _postmortem_out(postmortem)


@router.post("/{number}/publish", response_model=PostMortemOut)
def publish(
    number: Number, access: TeamMember, session: DbSession, portal: Portal
) -> PostMortemOut:
    """Publish an approved post-mortem."""
    postmortem = _postmortem(session, access, number)
    postmortems.publish(session, portal=portal, postmortem=postmortem, actor=access.user)
    return _postmortem_out(postmortem)


@router.post("/{number}/draft", response_model=PostMortemOut)
def return_to_draft(number: Number, access: TeamMember, session: DbSession) -> PostMortemOut:
    """Take a post-mortem in review back to draft; its approval is cleared."""
    postmortem = _postmortem(session, access, number)
    postmortems.return_to_draft(session, postmortem=postmortem, actor=access.user)
    return _postmortem_out(postmortem)


@router.post("/{number}/timeline", response_model=TimelineEntryOut, status_code=HTTPStatus.CREATED)
def add_timeline_entry(
    number: Number, body: TimelineEntryIn, access: TeamMember, session: DbSession
) -> TimelineEntryOut:
    postmortem = _postmortem(session, access, number)
    entry = postmortems.add_timeline_entry(
        session, postmortem=postmortem, actor=access.user, data=body
    )
    return TimelineEntryOut.from_row(entry)


@router.delete("/{number}/timeline/{entry_id}", status_code=HTTPStatus.NO_CONTENT)
def delete_timeline_entry(
    number: Number, entry_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    postmortem = _postmortem(session, access, number)
    postmortems.delete_timeline_entry(
        session, postmortem=postmortem, entry_id=entry_id, actor=access.user
    )
    return Response(status_code=HTTPStatus.NO_CONTENT)


@router.post("/{number}/links", response_model=LinkOut, status_code=HTTPStatus.CREATED)
def add_link(number: Number, body: LinkIn, access: TeamMember, session: DbSession) -> LinkOut:
    postmortem = _postmortem(session, access, number)
    link = postmortems.add_link(session, postmortem=postmortem, actor=access.user, data=body)
    return LinkOut.from_row(link)


@router.delete("/{number}/links/{link_id}", status_code=HTTPStatus.NO_CONTENT)
def delete_link(
    number: Number, link_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    postmortem = _postmortem(session, access, number)
    postmortems.delete_link(session, postmortem=postmortem, link_id=link_id, actor=access.user)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@router.post("/{number}/items", response_model=ActionItemOut, status_code=HTTPStatus.CREATED)
def add_item(
    number: Number, body: ActionItemIn, access: TeamMember, session: DbSession, portal: Portal
) -> ActionItemOut:
    """Add an action item; a post-mortem has at most three (further ideas go to the parking
    lot)."""
    postmortem = _postmortem(session, access, number)
    item = items.add_item(
        session, portal=portal, postmortem=postmortem, actor=access.user, data=body
    )
    return _item_out(item)


@router.post("/{number}/ideas", response_model=IdeaOut, status_code=HTTPStatus.CREATED)
def add_idea(number: Number, body: IdeaIn, access: TeamMember, session: DbSession) -> IdeaOut:
    """Park a further idea: no owner, no deadline."""
    postmortem = _postmortem(session, access, number)
    idea = parking_lot.add_idea(session, postmortem=postmortem, actor=access.user, data=body)
    return IdeaOut.from_row(idea)


@router.delete("/{number}/ideas/{idea_id}", status_code=HTTPStatus.NO_CONTENT)
def delete_idea(
    number: Number, idea_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    postmortem = _postmortem(session, access, number)
    parking_lot.delete_idea(session, postmortem=postmortem, idea_id=idea_id, actor=access.user)
    return Response(status_code=HTTPStatus.NO_CONTENT)
