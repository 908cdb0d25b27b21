"""/api/v1/teams/{team}/oncall: rotations, overrides, and who is on call now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, cast

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession, TeamAccess, TeamMember, TeamOwner
from opsyard.auth import users
from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.oncall import errors as oncall_errors
from opsyard.oncall import service as oncall
from opsyard.oncall.models import Override, Rotation
from opsyard.oncall.schemas import (
    OnCallNowOut,
    OnCallOut,
    OverrideCreate,
    OverrideOut,
    Period,
    PersonOut,
    RotationCreate,
    RotationOut,
    RotationPatch,
    SegmentOut,
)
from opsyard.teams.models import Team

router = APIRouter(prefix="/teams/{team}/oncall", tags=["oncall"])

MAX_TIMELINE = timedelta(days=92)


def _person(user: User | None) -> PersonOut | None:
    return PersonOut(email=user.email, name=user.name) if user is not None else None


def _rotation_out(rotation: Rotation) -> RotationOut:
    return RotationOut(
        id=rotation.id,
        name=rotation.name,
        timezone=rotation.timezone,
        handoff_time=rotation.handoff_time,
        period=cast(Period, rotation.period),  # checked on write
        start_date=rotation.start_date,
        members=[PersonOut(email=m.user.email, name=m.user.name) for m in rotation.members],
        created_at=rotation.created_at,
    )


def _override_out(override: Override) -> OverrideOut:
    return OverrideOut(
        id=override.id,
        user=PersonOut(email=override.user.email, name=override.user.name),
        starts_at=override.starts_at,
        ends_at=override.ends_at,
        created_at=override.created_at,
    )


def _people(session: Session, team: Team, emails: list[str], pointer: str) -> list[User]:
    """Users by email. Unknown addresses get the same answer as non-members, so the API
    does not reveal who has an account outside the team."""
    found: list[User] = []
    for index, email in enumerate(emails):
        user = users.get_by_email(session, email)
        if user is None:
            raise OpsyardError(
                oncall_errors.NOT_TEAM_MEMBER,
                f"{email} is not a member of {team.slug}.",
                fields=[FieldProblem(f"{pointer}/{index}", "Choose a member of the team.")],
            )
        found.append(user)
    return found


def _instant(value: datetime | None, parameter: str) -> datetime:
    """`value` in UTC (now when absent); refused without a UTC offset, which would leave
    the instant ambiguous."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "Instants need a UTC offset.",
            fields=[FieldProblem(f"/query/{parameter}", "Use ISO 8601 with an offset: …T09:00Z.")],
        )
    return value.astimezone(UTC)


@router.get("/rotations", response_model=list[RotationOut])
def list_rotations(access: TeamAccess, session: DbSession) -> list[RotationOut]:
    """The team's rotations; the first one is the primary, whose person gets paged."""
    return [_rotation_out(r) for r in oncall.list_rotations(session, team=access.team)]


@router.post("/rotations", response_model=RotationOut, status_code=status.HTTP_201_CREATED)
def create_rotation(body: RotationCreate, access: TeamOwner, session: DbSession) -> RotationOut:
    """Create a rotation (owners only)."""
    rotation = oncall.create_rotation(
        session,
        team=access.team,
        name=body.name,
        timezone=body.timezone,
        handoff_time=body.handoff_time,
        period=body.period,
        start_date=body.start_date,
        members=_people(session, access.team, body.members, "/members"),
        actor=access.user,
    )
    return _rotation_out(rotation)


@router.get("/rotations/{rotation_id}", response_model=RotationOut)
def get_rotation(rotation_id: int, access: TeamAccess, session: DbSession) -> RotationOut:
    return _rotation_out(oncall.get_rotation(session, team=access.team, rotation_id=rotation_id))


@router.patch("/rotations/{rotation_id}", response_model=RotationOut)
def update_rotation(
    rotation_id: int, body: RotationPatch, access: TeamOwner, session: DbSession
) -> RotationOut:
    """Change a rotation's settings or members (owners only)."""
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    members = (
        _people(session, access.team, body.members, "/members")
        if body.members is not None
        else None
    )
    oncall.update_rotation(
        session,
        team=access.team,
        rotation=rotation,
        name=body.name,
        timezone=body.timezone,
        handoff_time=body.handoff_time,
        period=body.period,
        start_date=body.start_date,
        members=members,
        actor=access.user,
    )
    return _rotation_out(rotation)


@router.delete("/rotations/{rotation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rotation(rotation_id: int, access: TeamOwner, session: DbSession) -> Response:
    """Delete a rotation and its overrides (owners only)."""
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    oncall.delete_rotation(session, team=access.team, rotation=rotation, actor=access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/rotations/{rotation_id}/overrides", response_model=list[OverrideOut])
def list_overrides(
    rotation_id: int,
    access: TeamAccess,
    session: DbSession,
    include_past: bool = False,
) -> list[OverrideOut]:
    """The rotation's overrides; those already over only with include_past=true."""
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    found = oncall.list_overrides(
        session, rotation=rotation, ending_after=None if include_past else utcnow()
    )
    return [_override_out(o) for o in found]


@router.post(
    "/rotations/{rotation_id}/overrides",
    response_model=OverrideOut,
    status_code=status.HTTP_201_CREATED,
)
def add_override(
    rotation_id: int, body: OverrideCreate, access: TeamMember, session: DbSession
) -> OverrideOut:
    """Let a team member cover a window (members may swap shifts without an owner)."""
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    [user] = _people(session, access.team, [body.user], "/user")
    override = oncall.add_override(
        session,
        team=access.team,
        rotation=rotation,
        user=user,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        actor=access.user,
    )
    return _override_out(override)


@router.delete(
    "/rotations/{rotation_id}/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT
)
def delete_override(
    rotation_id: int, override_id: int, access: TeamMember, session: DbSession
) -> Response:
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    override = oncall.get_override(session, rotation=rotation, override_id=override_id)
    oncall.delete_override(
        session, team=access.team, rotation=rotation, override=override, actor=access.user
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/rotations/{rotation_id}/timeline", response_model=list[SegmentOut])
def rotation_timeline(
    rotation_id: int,
    access: TeamAccess,
    session: DbSession,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_TIMELINE.days)] = 14,
) -> list[SegmentOut]:
    """Who is on call from `from` (default now) for `days` days, overrides included."""
    rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
    begin = _instant(start, "from")
    segments = oncall.timeline(
        session, rotation=rotation, start=begin, end=begin + timedelta(days=days)
    )
    return [
        SegmentOut(
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            user=_person(s.user),
            source=s.source,
        )
        for s in segments
    ]


@router.get("/now", response_model=OnCallNowOut)
def on_call_now(access: TeamAccess, session: DbSession, at: datetime | None = None) -> OnCallNowOut:
    """Who is on call in each rotation at `at` (ISO 8601 with offset; default now)."""
    instant = _instant(at, "at")
    answers = [
        oncall.on_call(session, rotation=rotation, at=instant)
        for rotation in oncall.list_rotations(session, team=access.team)
    ]
    return OnCallNowOut(
        at=instant,
        rotations=[
            OnCallOut(
                rotation_id=a.rotation.id,
                rotation=a.rotation.name,
                user=_person(a.user),
                source=a.source,
                until=a.until,
            )
            for a in answers
        ],
    )
