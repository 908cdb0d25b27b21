"""Writing post-mortems and taking them from draft through review to published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_postmortems import events
from opsyard_postmortems.errors import (
    APPROVAL_REQUIRED,
    INVALID_POSTMORTEM,
    INVALID_TRANSITION,
    NOT_FOUND,
)
from opsyard_postmortems.models import (
    DRAFT,
    IN_REVIEW,
    OPEN,
    POSTMORTEM_STATUSES,
    PUBLISHED,
    SEVERITIES,
    ActionItem,
    Author,
    Link,
    ParkingLotIdea,
    PostMortem,
    TimelineEntry,
)
from opsyard_postmortems.schemas import LinkIn, PostMortemIn, PostMortemPatch, TimelineEntryIn

# Patch fields that cannot hold null: sending null for them is refused rather than ignored.
NOT_NULL_FIELDS = (
    "title",
    "severity",
    "incident_started_at",
    "summary",
    "impact",
    "contributing_factors",
    "lessons",
    "author_ids",
)
TEXT_FIELDS = ("summary", "impact", "contributing_factors", "lessons")


def _audit(session: Session, *, postmortem: PostMortem, actor: User | None, action: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"postmortems.{action}",
        target=f"{postmortem.reference} {postmortem.title}",
        team_id=postmortem.team_id,
        detail={"number": postmortem.number, "status": postmortem.status},
    )


def _check_window(started: datetime, ended: datetime | None) -> None:
    if ended is not None and ended < started:
        raise OpsyardError(
            INVALID_POSTMORTEM,
            f"The incident ended ({ended}) before it started ({started}).",
            fields=[FieldProblem("/incident_ended_at", "Give an end at or after the start.")],
        )


def _authors(session: Session, *, team: Team, author_ids: Sequence[int]) -> list[User]:
    people: list[User] = []
    for index, user_id in enumerate(author_ids):
        person = teams.require_member(
            session,
            team=team,
            user_id=user_id,
            error=INVALID_POSTMORTEM,
            pointer=f"/author_ids/{index}",
        )
        if person not in people:
            people.append(person)
    return people


def _check_reviewer(
    session: Session, *, team: Team, reviewer_id: int, author_ids: Sequence[int], pointer: str
) -> User:
    reviewer = teams.require_member(
        session, team=team, user_id=reviewer_id, error=INVALID_POSTMORTEM, pointer=pointer
    )
    if reviewer.id in author_ids:
        raise OpsyardError(
            INVALID_POSTMORTEM,
            f"{reviewer.email} is an author; a post-mortem is reviewed by someone who did not "
            "write it.",
            fields=[FieldProblem(pointer, "Choose a team member who is not an author.")],
        )
    return reviewer


def _set_authors(session: Session, postmortem: PostMortem, people: Sequence[User]) -> None:
    wanted = {person.id for person in people}
    for author in list(postmortem.authors):
        if author.user_id not in wanted:
            postmortem.authors.remove(author)
    # Flush the removals first: a re-added author reuses the same primary key.
    session.flush()
    present = {author.user_id for author in postmortem.authors}
    for person in people:
        if person.id not in present:
            postmortem.authors.append(
                Author(postmortem_id=postmortem.id, user_id=person.id, user=person)
            )


def _lock_team(session: Session, team: Team) -> None:
    # Numbers are per team; on PostgreSQL two concurrent creates would read the same maximum,
    # so they queue on the team row. SQLite runs the numbering INSERT under its single writer
    # lock, and ignores FOR UPDATE.
    session.execute(select(Team.id).where(Team.id == team.id).with_for_update())


def create_postmortem(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    actor: User | None,
    data: PostMortemIn,
    source: str = "manual",
    source_ref: str | None = None,
    now: datetime | None = None,
) -> PostMortem:
    """Create a draft post-mortem numbered after the team's last one."""
    now = now or utcnow()
    _check_window(data.incident_started_at, data.incident_ended_at)
    people = _authors(session, team=team, author_ids=data.author_ids)
    if data.reviewer_id is not None:
        _check_reviewer(
            session,
            team=team,
            reviewer_id=data.reviewer_id,
            author_ids=[person.id for person in people],
            pointer="/reviewer_id",
        )
    if source_ref is not None:
        known = session.scalar(
            select(PostMortem.number).where(
                PostMortem.team_id == team.id, PostMortem.source_ref == source_ref
            )
        )
        if known is not None:
            raise OpsyardError(
                errors.CONFLICT,
                f"PM-{known} was already opened from {source} {source_ref!r}.",
                extra={"number": known},
            )
    _lock_team(session, team)
    next_number = (
        select(func.coalesce(func.max(PostMortem.number), 0) + 1)
        .where(PostMortem.team_id == team.id)
        .scalar_subquery()
    )
    postmortem = PostMortem(
        team_id=team.id,
        # Computed inside the INSERT, so the read and the write are one statement.
        number=next_number,
        title=data.title,
        severity=data.severity,
        status=DRAFT,
        incident_started_at=data.incident_started_at,
        incident_ended_at=data.incident_ended_at,
        summary=data.summary,
        impact=data.impact,
        contributing_factors=data.contributing_factors,
        lessons=data.lessons,
        reviewer_id=data.reviewer_id,
        source=source,
        source_ref=source_ref,
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(postmortem)
    session.flush()
    session.refresh(postmortem, ["number"])
    _set_authors(session, postmortem, people)
    session.flush()
    _audit(session, postmortem=postmortem, actor=actor, action="created")
    return postmortem


def update_postmortem(
    session: Session,
    *,
    postmortem: PostMortem,
    actor: User | None,
    data: PostMortemPatch,
    now: datetime | None = None,
) -> PostMortem:
    """Change the fields sent in `data`. A change after approval withdraws the approval: the
    reviewer approved what they read."""
    now = now or utcnow()
    sent = data.model_fields_set
    for name in NOT_NULL_FIELDS:
        if name in sent and getattr(data, name) is None:
            raise OpsyardError(
                INVALID_POSTMORTEM,
                f"{name} cannot be null.",
                fields=[FieldProblem(f"/{name}", "Give a value, or leave the field out.")],
            )
    team = session.get_one(Team, postmortem.team_id)
    started = data.incident_started_at if "incident_started_at" in sent else None
    ended = data.incident_ended_at if "incident_ended_at" in sent else postmortem.incident_ended_at
    _check_window(started or postmortem.incident_started_at, ended)

    author_ids = [author.user_id for author in postmortem.authors]
    people: list[User] | None = None
    if "author_ids" in sent:
        people = _authors(session, team=team, author_ids=data.author_ids or [])
        author_ids = [person.id for person in people]
    reviewer_id = data.reviewer_id if "reviewer_id" in sent else postmortem.reviewer_id
    if reviewer_id is not None:
        _check_reviewer(
            session,
            team=team,
            reviewer_id=reviewer_id,
            author_ids=author_ids,
            pointer="/reviewer_id" if "reviewer_id" in sent else "/author_ids",
        )
    if postmortem.status == IN_REVIEW and reviewer_id is None:
        raise OpsyardError(
            INVALID_POSTMORTEM,
            f"{postmortem.reference} is in review and needs a reviewer.",
            fields=[FieldProblem("/reviewer_id", "Name a reviewer, or return it to draft.")],
        )

    if data.title is not None:
        postmortem.title = data.title
    if data.severity is not None:
        postmortem.severity = data.severity
    if data.incident_started_at is not None:
        postmortem.incident_started_at = data.incident_started_at
    if "incident_ended_at" in sent:
        postmortem.incident_ended_at = data.incident_ended_at
    for name in TEXT_FIELDS:
        value = getattr(data, name)
        if value is not None:
            setattr(postmortem, name, value)
    if people is not None:
        _set_authors(session, postmortem, people)
    if reviewer_id != postmortem.reviewer_id:
        postmortem.reviewer_id = reviewer_id
        postmortem.reviewer = session.get(User, reviewer_id) if reviewer_id else None
    if postmortem.approved_by_id is not None and postmortem.status == IN_REVIEW:
        _clear_approval(postmortem)
    postmortem.updated_at = now
    session.flush()
    _audit(session, postmortem=postmortem, actor=actor, action="updated")
    return postmortem


def get_postmortem(session: Session, *, team: Team, number: int) -> PostMortem:
    """The team's post-mortem PM-`number`."""
    postmortem = session.scalar(
        select(PostMortem).where(PostMortem.team_id == team.id, PostMortem.number == number)
    )
    if postmortem is None:
        raise OpsyardError(NOT_FOUND, f"{team.slug} has no post-mortem PM-{number}.")
    return postmortem


def _check_choice(value: str | None, choices: Sequence[str], pointer: str) -> None:
    if value is not None and value not in choices:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{value!r} is not one of {', '.join(choices)}.",
            fields=[FieldProblem(pointer, f"Use one of {', '.join(choices)}.")],
        )


def list_postmortems(
    session: Session,
    *,
    team: Team,
    status: str | None = None,
    severity: str | None = None,
    overdue: bool = False,
    now: datetime,
) -> list[PostMortem]:
    """The team's post-mortems, newest first; `overdue` keeps those with an open item past its
    deadline."""
    _check_choice(status, POSTMORTEM_STATUSES, "/status")
    _check_choice(severity, SEVERITIES, "/severity")
    query = select(PostMortem).where(PostMortem.team_id == team.id)
    if status is not None:
        query = query.where(PostMortem.status == status)
    if severity is not None:
        query = query.where(PostMortem.severity == severity)
    if overdue:
        late = exists().where(
            and_(
                ActionItem.postmortem_id == PostMortem.id,
                ActionItem.status == OPEN,
                ActionItem.deadline < now.date(),
            )
        )
        query = query.where(late)
    return list(session.scalars(query.order_by(PostMortem.number.desc())))


def add_timeline_entry(
    session: Session, *, postmortem: PostMortem, actor: User | None, data: TimelineEntryIn
) -> TimelineEntry:
    """Add an entry to the incident's timeline (kept in time order)."""
    entry = TimelineEntry(postmortem_id=postmortem.id, occurred_at=data.occurred_at, text=data.text)
    session.add(entry)
    session.flush()
    # Reload the ordered list on next access rather than appending out of order.
    session.expire(postmortem, ["timeline"])
    return entry


# The lists a post-mortem is made of, each row pointing back at its post-mortem.
Part = TypeVar("Part", TimelineEntry, Link, ParkingLotIdea)


def remove_part(
    session: Session,
    *,
    postmortem: PostMortem,
    model: type[Part],
    row_id: int,
    collection: str,
    what: str,
) -> None:
    """Delete row `row_id` of `model` if it belongs to `postmortem` (404 otherwise, whichever
    post-mortem it is in), and reload that list of the post-mortem on next access."""
    row = session.get(model, row_id)
    if row is None or row.postmortem_id != postmortem.id:
        raise OpsyardError(NOT_FOUND, f"{postmortem.reference} has no {what} {row_id}.")
    session.delete(row)
    session.flush()
    session.expire(postmortem, [collection])


def delete_timeline_entry(
    session: Session, *, postmortem: PostMortem, entry_id: int, actor: User | None
) -> None:
    """Remove one entry of the timeline."""
    remove_part(
        session,
        postmortem=postmortem,
        model=TimelineEntry,
        row_id=entry_id,
        collection="timeline",
        what="timeline entry",
    )


def add_link(session: Session, *, postmortem: PostMortem, actor: User | None, data: LinkIn) -> Link:
    """Add a link (a dashboard, a chat thread, a change) to the post-mortem."""
    link = Link(postmortem_id=postmortem.id, title=data.title, url=data.url)
    session.add(link)
    session.flush()
    session.expire(postmortem, ["links"])
    return link


def delete_link(
    session: Session, *, postmortem: PostMortem, link_id: int, actor: User | None
) -> None:
    """Remove one link."""
    remove_part(
        session, postmortem=postmortem, model=Link, row_id=link_id, collection="links", what="link"
    )


def _require_status(postmortem: PostMortem, status: str, doing: str) -> None:
    if postmortem.status != status:
        raise OpsyardError(
            INVALID_TRANSITION,
            f"{postmortem.reference} is {postmortem.status.replace('_', ' ')}; only a "
            f"{status.replace('_', ' ')} post-mortem can be {doing}.",
        )


def _clear_approval(postmortem: PostMortem) -> None:
    postmortem.approved_by_id = None
    postmortem.approved_by = None
    postmortem.approved_at = None


def request_review(
    session: Session,
    *,
    postmortem: PostMortem,
    actor: User | None,
    reviewer_id: int,
    now: datetime | None = None,
) -> PostMortem:
    """Send a draft to `reviewer_id` (a team member who is not an author) for review."""
    _require_status(postmortem, DRAFT, "sent for review")
    team = session.get_one(Team, postmortem.team_id)
    reviewer = _check_reviewer(
        session,
        team=team,
        reviewer_id=reviewer_id,
        author_ids=[author.user_id for author in postmortem.authors],
        pointer="/reviewer_id",
    )
    postmortem.reviewer_id = reviewer.id
    postmortem.reviewer = reviewer
    postmortem.status = IN_REVIEW
    _clear_approval(postmortem)
    postmortem.updated_at = now or utcnow()
    session.flush()
    _audit(session, postmortem=postmortem, actor=actor, action="review_requested")
    return postmortem


def approve(
    session: Session, *, postmortem: PostMortem, actor: User, now: datetime | None = None
) -> PostMortem:
    """Record the reviewer's approval, which allows publishing."""
    _require_status(postmortem, IN_REVIEW, "approved")
    if actor.id != postmortem.reviewer_id:
        reviewer = postmortem.reviewer.email if postmortem.reviewer else "the reviewer"
        raise OpsyardError(
            errors.FORBIDDEN,
            f"Only {reviewer} can approve {postmortem.reference}.",
        )
    if any(author.user_id == actor.id for author in postmortem.authors):
        raise OpsyardError(
            APPROVAL_REQUIRED,
            f"{actor.email} is an author of {postmortem.reference} and cannot review it.",
            fields=[FieldProblem("/reviewer_id", "Choose a reviewer who is not an author.")],
        )
    now = now or utcnow()
    postmortem.approved_by_id = actor.id
    # The session's own instance: `actor` may come from the request's authentication.
    postmortem.approved_by = session.get_one(User, actor.id)
    postmortem.approved_at = now
    postmortem.updated_at = now
    session.flush()
    _audit(session, postmortem=postmortem, actor=actor, action="approved")
    return postmortem


def publish(
    session: Session,
    *,
    portal: PortalContext,
    postmortem: PostMortem,
    actor: User | None,
    now: datetime | None = None,
) -> PostMortem:
    """Publish a post-mortem its reviewer approved."""
    _require_status(postmortem, IN_REVIEW, "published")
    if postmortem.approved_by_id is None:
        raise OpsyardError(
            APPROVAL_REQUIRED,
            f"{postmortem.reference} has not been approved by its reviewer yet.",
        )
    now = now or utcnow()
    postmortem.status = PUBLISHED
    postmortem.published_at = now
    postmortem.updated_at = now
    session.flush()
    team = session.get_one(Team, postmortem.team_id)
    events.emit_postmortem(
        session,
        portal=portal,
        team=team,
        name=events.PUBLISHED,
        postmortem=postmortem,
        actor=actor,
        at=now,
    )
    _audit(session, postmortem=postmortem, actor=actor, action="published")
    return postmortem


def return_to_draft(
    session: Session, *, postmortem: PostMortem, actor: User | None, now: datetime | None = None
) -> PostMortem:
    """Take a post-mortem out of review for more writing; any approval is withdrawn."""
    _require_status(postmortem, IN_REVIEW, "returned to draft")
    postmortem.status = DRAFT
    _clear_approval(postmortem)
    postmortem.updated_at = now or utcnow()
    session.flush()
    _audit(session, postmortem=postmortem, actor=actor, action="returned_to_draft")
    return postmortem
