"""Managing rotations and overrides, and answering who is on call at an instant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.oncall import errors as oncall_errors
from opsyard.oncall.models import Override, Rotation, RotationMember
from opsyard.oncall.rotation import PERIOD_DAYS, Schedule, load_timezone, member_index
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard.teams.owned import get_team_row

Source = Literal["rotation", "override", "nobody"]


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant, why (a rotation shift or an override), and until when."""

    rotation: Rotation
    user: User | None
    source: Source
    until: datetime


def schedule_of(rotation: Rotation) -> Schedule:
    """The timing of `rotation` as a pure `Schedule`."""
    zone = load_timezone(rotation.timezone)
    if zone is None:  # validated on write; a zone dropped from tzdata is an operator problem
        raise OpsyardError(oncall_errors.UNKNOWN_TIMEZONE, f"{rotation.timezone!r} is unknown.")
    return Schedule(
        zone=zone,
        handoff_time=rotation.handoff_time,
        period_days=PERIOD_DAYS[rotation.period],
        start_date=rotation.start_date,
    )


def _check_timezone(name: str) -> None:
    if load_timezone(name) is None:
        raise OpsyardError(
            oncall_errors.UNKNOWN_TIMEZONE,
            f"{name!r} is not an IANA timezone.",
            fields=[FieldProblem("/timezone", "Use a name such as Europe/Berlin.")],
        )


def _check_period(period: str) -> None:
    if period not in PERIOD_DAYS:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{period!r} is not a rotation period.",
            fields=[FieldProblem("/period", "Use daily or weekly.")],
        )


def _check_members(session: Session, *, team: Team, people: Sequence[User], pointer: str) -> None:
    for index, person in enumerate(people):
        if teams.membership(session, team=team, user=person) is None:
            raise OpsyardError(
                oncall_errors.NOT_TEAM_MEMBER,
                f"{person.email} is not a member of {team.slug}.",
                fields=[FieldProblem(f"{pointer}/{index}", "Choose a member of the team.")],
            )


def _check_name(session: Session, *, team: Team, name: str, rotation_id: int | None) -> None:
    query = select(Rotation.id).where(Rotation.team_id == team.id, Rotation.name == name)
    existing = session.scalar(query)
    if existing is not None and existing != rotation_id:
        raise OpsyardError(
            oncall_errors.NAME_TAKEN,
            f"Team {team.slug} already has a rotation named {name!r}.",
            fields=[FieldProblem("/name", "Choose another name.")],
        )


def _set_members(session: Session, rotation: Rotation, people: Sequence[User]) -> None:
    rotation.members.clear()
    # Flush the removals first: the new rows reuse the (rotation, position) keys.
    session.flush()
    for position, person in enumerate(people):
        rotation.members.append(
            RotationMember(rotation_id=rotation.id, position=position, user_id=person.id)
        )
    session.flush()
    session.refresh(rotation, ["members"])


# Shifts are computed with date arithmetic that overflows near year 9999; no schedule needs
# dates outside this window, so values beyond it are refused as input errors.
EARLIEST_YEAR = 1970
LATEST_YEAR = 2200


def _check_year(value: date, pointer: str) -> None:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{value.isoformat()} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR}.",
            fields=[
                FieldProblem(pointer, f"Use a date between {EARLIEST_YEAR} and {LATEST_YEAR}.")
            ],
        )


def create_rotation(
    session: Session,
    *,
    team: Team,
    name: str,
    timezone: str,
    handoff_time: time,
    period: str,
    start_date: date,
    members: Sequence[User],
    actor: User | None,
) -> Rotation:
    """Create a rotation whose `members` (team members, in order) take turns."""
    _check_timezone(timezone)
    _check_period(period)
    _check_year(start_date, "/start_date")
    _check_name(session, team=team, name=name, rotation_id=None)
    _check_members(session, team=team, people=members, pointer="/members")
    rotation = Rotation(
        team_id=team.id,
        name=name,
        timezone=timezone,
        handoff_time=handoff_time,
        period=period,
        start_date=start_date,
    )
    session.add(rotation)
    session.flush()
    _set_members(session, rotation, members)
    audit.record(
        session, actor=actor, action="oncall.rotation_created", target=name, team_id=team.id
    )
    return rotation


def update_rotation(
    session: Session,
    *,
    team: Team,
    rotation: Rotation,
    name: str | None = None,
    timezone: str | None = None,
    handoff_time: time | None = None,
    period: str | None = None,
    start_date: date | None = None,
    members: Sequence[User] | None = None,
    actor: User | None,
) -> Rotation:
    """Change any of a rotation's settings; None leaves a setting as it is."""
    if name is not None:
        _check_name(session, team=team, name=name, rotation_id=rotation.id)
        rotation.name = name
    if timezone is not None:
        _check_timezone(timezone)
        rotation.timezone = timezone
    if period is not None:
        _check_period(period)
        rotation.period = period
    if handoff_time is not None:
        rotation.handoff_time = handoff_time
    if start_date is not None:
        _check_year(start_date, "/start_date")
        rotation.start_date = start_date
    if members is not None:
        _check_members(session, team=team, people=members, pointer="/members")
        _set_members(session, rotation, members)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oncall.rotation_changed",
        target=rotation.name,
        team_id=team.id,
    )
    return rotation


def delete_rotation(
    session: Session, *, team: Team, rotation: Rotation, actor: User | None
) -> None:
    """Delete a rotation with its members and overrides."""
    session.delete(rotation)
    audit.record(
        session,
        actor=actor,
        action="oncall.rotation_deleted",
        target=rotation.name,
        team_id=team.id,
    )


def list_rotations(session: Session, *, team: Team) -> list[Rotation]:
    """The team's rotations, oldest first (the first one is the team's primary)."""
    query = select(Rotation).where(Rotation.team_id == team.id).order_by(Rotation.id)
    return list(session.scalars(query))


def get_rotation(session: Session, *, team: Team, rotation_id: int) -> Rotation:
    """The team's rotation `rotation_id`; 404 when it is another team's or does not exist."""
    return get_team_row(session, Rotation, rotation_id, team=team, what="rotation")


def add_override(
    session: Session,
    *,
    team: Team,
    rotation: Rotation,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    actor: User | None,
) -> Override:
    """Let `user` cover [starts_at, ends_at) in place of the rotation's choice."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None or ends_at <= starts_at:
        raise OpsyardError(
            oncall_errors.INVALID_WINDOW,
            "The window needs a UTC offset on both ends and must end after it starts.",
            fields=[FieldProblem("/ends_at", "Use ISO 8601 with an offset, after starts_at.")],
        )
    _check_year(starts_at.date(), "/starts_at")
    _check_year(ends_at.date(), "/ends_at")
    _check_members(session, team=team, people=[user], pointer="/user")
    override = Override(
        rotation_id=rotation.id,
        user_id=user.id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=actor.id if actor else None,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oncall.override_added",
        target=rotation.name,
        team_id=team.id,
        detail={
            "user": user.email,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return override


def get_override(session: Session, *, rotation: Rotation, override_id: int) -> Override:
    """The override `override_id` of `rotation`; 404 otherwise."""
    override = session.get(Override, override_id)
    if override is None or override.rotation_id != rotation.id:
        raise OpsyardError(errors.NOT_FOUND, f"No override {override_id} in {rotation.name}.")
    return override


def delete_override(
    session: Session, *, team: Team, rotation: Rotation, override: Override, actor: User | None
) -> None:
    """Remove an override; the rotation's own choice applies again."""
    session.delete(override)
    audit.record(
        session,
        actor=actor,
        action="oncall.override_removed",
        target=rotation.name,
        team_id=team.id,
        detail={"user": override.user.email},
    )


def list_overrides(
    session: Session, *, rotation: Rotation, ending_after: datetime | None = None
) -> list[Override]:
    """The rotation's overrides by start, only those still running after `ending_after`."""
    query = select(Override).where(Override.rotation_id == rotation.id)
    if ending_after is not None:
        query = query.where(Override.ends_at > ending_after)
    return list(session.scalars(query.order_by(Override.starts_at, Override.id)))


def _active_override(session: Session, *, rotation: Rotation, at: datetime) -> Override | None:
    # Overlapping overrides: the one added last wins, as the latest decision.
    query = (
        select(Override)
        .where(
            Override.rotation_id == rotation.id,
            Override.starts_at <= at,
            Override.ends_at > at,
        )
        .order_by(Override.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _next_override_start(session: Session, *, rotation: Rotation, at: datetime) -> datetime | None:
    query = select(Override.starts_at).where(
        Override.rotation_id == rotation.id, Override.starts_at > at
    )
    return session.scalar(query.order_by(Override.starts_at).limit(1))


def on_call(session: Session, *, rotation: Rotation, at: datetime) -> OnCall:
    """Who `rotation` puts on call at `at`, why, and until when (the next change)."""
    schedule = schedule_of(rotation)
    upcoming = [schedule.next_handoff(at)]
    following = _next_override_start(session, rotation=rotation, at=at)
    if following is not None:
        upcoming.append(following)
    override = _active_override(session, rotation=rotation, at=at)
    if override is not None:
        upcoming.append(override.ends_at)
        return OnCall(rotation, override.user, "override", min(upcoming))
    shift = schedule.shift_at(at)
    if shift is None or not rotation.members:
        return OnCall(rotation, None, "nobody", min(upcoming))
    member = rotation.members[member_index(shift, len(rotation.members))]
    return OnCall(rotation, member.user, "rotation", min(upcoming))


def who_is_on_call(session: Session, *, rotation: Rotation, at: datetime) -> User | None:
    """The person on call in `rotation` at `at` (overrides win); None before it starts or
    when it has no members."""
    return on_call(session, rotation=rotation, at=at).user


def team_on_call(
    session: Session, *, team: Team, at: datetime, rotation: str | None = None
) -> User | None:
    """The team's on-call engineer at `at`: whoever the rotation named `rotation` names, by
    default the team's primary (oldest) rotation; None without rotations or anyone on call."""
    rotations = list_rotations(session, team=team)
    if rotation is not None:
        rotations = [r for r in rotations if r.name == rotation]
        if not rotations:
            raise OpsyardError(
                errors.VALIDATION_FAILED,
                f"Team {team.slug} has no rotation named {rotation!r}.",
                fields=[FieldProblem("/rotation", "Name one of the team's rotations.")],
            )
    if not rotations:
        return None
    return who_is_on_call(session, rotation=rotations[0], at=at)


@dataclass(frozen=True)
class Segment:
    """A stretch of time during which one person (or nobody) is on call."""

    starts_at: datetime
    ends_at: datetime
    user: User | None
    source: Source


MAX_TIMELINE_SEGMENTS = 1000


def _same(a: User | None, b: User | None) -> bool:
    return (a.id if a else None) == (b.id if b else None)


def timeline(
    session: Session, *, rotation: Rotation, start: datetime, end: datetime
) -> list[Segment]:
    """Who is on call across [start, end), hand-offs and overrides merged, in order."""
    segments: list[Segment] = []
    cursor = start
    while cursor < end and len(segments) < MAX_TIMELINE_SEGMENTS:
        now = on_call(session, rotation=rotation, at=cursor)
        until = min(now.until, end)
        last = segments[-1] if segments else None
        if last is not None and _same(last.user, now.user) and last.source == now.source:
            segments[-1] = Segment(last.starts_at, until, now.user, now.source)
        else:
            segments.append(Segment(cursor, until, now.user, now.source))
        cursor = until
    return segments
