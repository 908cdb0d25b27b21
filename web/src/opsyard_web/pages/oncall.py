"""The on-call page: who is on call now in each rotation, the next hand-offs, overrides.

Everyone in the team reads it. Owners create, change and delete rotations; members and
owners add and remove overrides (swapping a shift needs no owner), as in the API. Every
form answers with the ``{% block oncall %}`` part of the page, which replaces itself.
Times are shown in each rotation's own timezone, where its hand-offs happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, TeamAccess, TeamContext, TeamMember, TeamOwner
from opsyard.auth import users
from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.oncall import errors as oncall_errors
from opsyard.oncall import service as oncall
from opsyard.oncall.models import Rotation
from opsyard.oncall.rotation import PERIOD_DAYS, load_timezone
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard_web.forms import FormState
from opsyard_web.pages import inputs
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/oncall")

TEMPLATE = "oncall.html"
BLOCK = "oncall"
TIMELINE_DAYS = 14
# Distinct colours in the timeline bar; people beyond that share them (the list says who).
COLOURS = 6


@dataclass(frozen=True)
class Moment:
    """An instant, for machines (UTC) and for people (the rotation's wall clock)."""

    utc: datetime
    local: str


@dataclass(frozen=True)
class Stretch:
    starts: Moment
    ends: Moment
    person: str | None
    source: str
    offset: float
    width: float
    colour: int


@dataclass(frozen=True)
class CoverView:
    id: int
    person: str
    starts: Moment
    ends: Moment


@dataclass(frozen=True)
class RotationView:
    id: int
    name: str
    timezone: str
    summary: str
    members: list[User]
    primary: bool
    now_person: str | None
    now_source: str
    now_until: Moment
    timeline: list[Stretch]
    overrides: list[CoverView]
    form: FormState
    override_form: FormState
    editing: bool = False


@dataclass
class Forms:
    """The forms an answer shows with errors or a done message; the rest start blank."""

    new: FormState | None = None
    edit: dict[int, FormState] = field(default_factory=dict)
    cover: dict[int, FormState] = field(default_factory=dict)
    message: FormState | None = None


def _moment(value: datetime, zone: ZoneInfo) -> Moment:
    local = value.astimezone(zone)
    return Moment(value, f"{local:%a} {local.day} {local:%b %H:%M}")


def _summary(rotation: Rotation) -> str:
    at = rotation.handoff_time.strftime("%H:%M")
    since = rotation.start_date.strftime("%d %b %Y").lstrip("0")
    if rotation.period == "weekly":
        day = rotation.start_date.strftime("%A")
        return f"Weekly, handing over on {day} at {at} ({rotation.timezone}), since {since}."
    return f"Daily, handing over at {at} ({rotation.timezone}), since {since}."


def _rotation_values(rotation: Rotation) -> dict[str, str]:
    return {
        "name": rotation.name,
        "timezone": rotation.timezone,
        "handoff_time": rotation.handoff_time.strftime("%H:%M"),
        "period": rotation.period,
        "start_date": rotation.start_date.isoformat(),
        "members": "\n".join(member.user.email for member in rotation.members),
    }


def _cover_values(zone: ZoneInfo, now: datetime, person: str) -> dict[str, str]:
    """The override form's defaults: `person` for a day from the next full hour, on the
    rotation's clock."""
    local = now.astimezone(zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "user": person,
        "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (local + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }


def _view(
    session: Session,
    rotation: Rotation,
    *,
    primary: bool,
    now: datetime,
    forms: Forms,
    person: str,
) -> RotationView:
    zone = oncall.schedule_of(rotation).zone
    current = oncall.on_call(session, rotation=rotation, at=now)
    # The list runs to the first hand-off after the window, so its last line ends at a real
    # hand-off, unless that is far off (a rotation that starts later).
    window_end = now + timedelta(days=TIMELINE_DAYS)
    following = oncall.on_call(session, rotation=rotation, at=window_end).until
    end = following if following - window_end <= timedelta(days=7) else window_end
    span = (end - now).total_seconds()
    colours: dict[int, int] = {}
    for member in rotation.members:
        colours.setdefault(member.user_id, len(colours) % COLOURS)
    stretches = []
    for segment in oncall.timeline(session, rotation=rotation, start=now, end=end):
        someone = segment.user
        if someone is not None:
            colours.setdefault(someone.id, len(colours) % COLOURS)
        stretches.append(
            Stretch(
                starts=_moment(segment.starts_at, zone),
                ends=_moment(segment.ends_at, zone),
                person=someone.display_name if someone else None,
                source=segment.source,
                offset=round((segment.starts_at - now).total_seconds() / span * 100, 3),
                width=round((segment.ends_at - segment.starts_at).total_seconds() / span * 100, 3),
                colour=colours[someone.id] if someone else -1,
            )
        )
    covers = [
        CoverView(o.id, o.user.display_name, _moment(o.starts_at, zone), _moment(o.ends_at, zone))
        for o in oncall.list_overrides(session, rotation=rotation, ending_after=now)
    ]
    edit = forms.edit.get(rotation.id)
    cover = forms.cover.get(rotation.id) or FormState()
    if not cover.values:
        cover.values = _cover_values(zone, now, person)
    return RotationView(
        id=rotation.id,
        name=rotation.name,
        timezone=rotation.timezone,
        summary=_summary(rotation),
        members=[member.user for member in rotation.members],
        primary=primary,
        now_person=current.user.display_name if current.user else None,
        now_source=current.source,
        now_until=_moment(current.until, zone),
        timeline=stretches,
        overrides=covers,
        form=edit or FormState(values=_rotation_values(rotation)),
        override_form=cover,
        editing=edit is not None and bool(edit.message),
    )


def oncall_context(
    session: Session, access: TeamContext, forms: Forms | None = None
) -> dict[str, Any]:
    """Everything the page shows; `can_manage` and `can_cover` only decide which controls
    appear, every change is checked again by its own route."""
    forms = forms or Forms()
    now = utcnow()
    rotations = oncall.list_rotations(session, team=access.team)
    members = teams.members(session, access.team)
    takes_turns = [m.user.email for m in members if Role(m.role).allows(Role.MEMBER)]
    # Whoever opens the form is the likeliest to cover; a site admin outside the team is not.
    me = access.user.email if any(m.user_id == access.user.id for m in members) else ""
    new_form = forms.new or FormState(
        values={
            "timezone": "UTC",
            "handoff_time": "09:00",
            "period": "weekly",
            "start_date": now.date().isoformat(),
            "members": "\n".join(takes_turns),
        }
    )
    return {
        "rotations": [
            _view(session, rotation, primary=index == 0, now=now, forms=forms, person=me)
            for index, rotation in enumerate(rotations)
        ],
        "now": now,
        "timeline_days": TIMELINE_DAYS,
        "can_manage": access.role.allows(Role.OWNER),
        "can_cover": access.role.allows(Role.MEMBER),
        "people_options": [
            ("", "Choose…"),
            *((m.user.email, m.user.display_name) for m in members),
        ],
        "period_options": [(period, period.title()) for period in PERIOD_DAYS],
        "new_form": new_form,
        "message": forms.message or FormState(),
    }


@router.get("")
def oncall_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    return render(request, TEMPLATE, oncall_context(session, access), session=session)


def _people(session: Session, access: TeamContext, text: str) -> list[User]:
    """The people listed one per line, in order. Unknown addresses get the same answer as
    non-members, so the form does not reveal who has an account outside the team."""
    emails = inputs.lines(text)
    if not emails:
        raise inputs.invalid(
            "members", "A rotation needs members.", "List team members, one email per line."
        )
    found = []
    for index, email in enumerate(emails):
        user = users.get_by_email(session, email)
        if user is None:
            raise OpsyardError(
                oncall_errors.NOT_TEAM_MEMBER,
                f"{email} is not a member of {access.team.slug}.",
                fields=[FieldProblem(f"/members/{index}", "Choose a member of the team.")],
            )
        found.append(user)
    return found


def _zone(value: str) -> str:
    name = value.strip()
    if load_timezone(name) is None:
        raise OpsyardError(
            oncall_errors.UNKNOWN_TIMEZONE,
            f"{name!r} is not an IANA timezone.",
            fields=[FieldProblem("/timezone", "Use a name such as Europe/Berlin or UTC.")],
        )
    return name


def _apply(
    request: Request,
    session: Session,
    access: TeamContext,
    change: Callable[[], Forms],
    failed: Callable[[OpsyardError], Forms],
) -> HTMLResponse:
    """Make `change`; on a refusal roll back and show `failed(error)` with its status."""
    try:
        forms = change()
    except OpsyardError as exc:
        if exc.error.status >= 500:
            raise
        session.rollback()
        return _answer(request, session, access, failed(exc), exc.error.status)
    session.flush()
    return _answer(request, session, access, forms, 200)


def _answer(
    request: Request, session: Session, access: TeamContext, forms: Forms, status_code: int
) -> HTMLResponse:
    context = oncall_context(session, access, forms)
    return render(
        request, TEMPLATE, context, block_name=BLOCK, status_code=status_code, session=session
    )


class RotationFields(BaseModel):
    """The rotation form as typed, kept to show again beside errors; `parsed` checks it."""

    name: str = ""
    timezone: str = ""
    handoff_time: str = ""
    period: str = "weekly"
    start_date: str = ""
    members: str = ""

    def parsed(self, session: Session, access: TeamContext) -> dict[str, Any]:
        """The keyword arguments the on-call service takes for a rotation."""
        return {
            "name": inputs.text(self.name, name="name", label="Name", max_length=100),
            "timezone": _zone(self.timezone),
            "handoff_time": inputs.clock_time(self.handoff_time, name="handoff_time"),
            "period": self.period,
            "start_date": inputs.calendar_date(self.start_date, name="start_date"),
            "members": _people(session, access, self.members),
        }


@router.post("/rotations")
def create_rotation(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    fields: Annotated[RotationFields, Form()],
) -> Response:
    values = fields.model_dump()

    def change() -> Forms:
        rotation = oncall.create_rotation(
            session, team=access.team, **fields.parsed(session, access), actor=access.user
        )
        return Forms(message=FormState(done=f"Rotation “{rotation.name}” is created."))

    return _apply(
        request, session, access, change, lambda exc: Forms(new=FormState.failed(exc, values))
    )


@router.post("/rotations/{rotation_id}")
def update_rotation(
    request: Request,
    rotation_id: int,
    access: TeamOwner,
    session: DbSession,
    fields: Annotated[RotationFields, Form()],
) -> Response:
    values = fields.model_dump()

    def change() -> Forms:
        rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
        oncall.update_rotation(
            session,
            team=access.team,
            rotation=rotation,
            **fields.parsed(session, access),
            actor=access.user,
        )
        return Forms(message=FormState(done=f"Rotation “{rotation.name}” is changed."))

    def failed(exc: OpsyardError) -> Forms:
        if exc.error.status == 404:
            return Forms(message=FormState.failed(exc))
        return Forms(edit={rotation_id: FormState.failed(exc, values)})

    return _apply(request, session, access, change, failed)


@router.post("/rotations/{rotation_id}/delete")
def delete_rotation(
    request: Request, rotation_id: int, access: TeamOwner, session: DbSession
) -> Response:
    def change() -> Forms:
        rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
        name = rotation.name
        oncall.delete_rotation(session, team=access.team, rotation=rotation, actor=access.user)
        return Forms(message=FormState(done=f"Rotation “{name}” is deleted."))

    return _apply(
        request, session, access, change, lambda exc: Forms(message=FormState.failed(exc))
    )


@router.post("/rotations/{rotation_id}/overrides")
def add_override(
    request: Request,
    rotation_id: int,
    access: TeamMember,
    session: DbSession,
    user: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
) -> Response:
    values = {"user": user, "starts_at": starts_at, "ends_at": ends_at}

    def change() -> Forms:
        rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
        zone = oncall.schedule_of(rotation).zone
        person = users.get_by_email(session, user) if user.strip() else None
        if person is None:
            raise inputs.invalid("user", "Nobody is chosen to cover.", "Choose a team member.")
        override = oncall.add_override(
            session,
            team=access.team,
            rotation=rotation,
            user=person,
            starts_at=inputs.local_instant(starts_at, name="starts_at", zone=zone),
            ends_at=inputs.local_instant(ends_at, name="ends_at", zone=zone),
            actor=access.user,
        )
        done = f"{person.display_name} covers {_moment(override.starts_at, zone).local}"
        done += f" to {_moment(override.ends_at, zone).local}."
        return Forms(cover={rotation_id: FormState(done=done)})

    def failed(exc: OpsyardError) -> Forms:
        if exc.error.status == 404:
            return Forms(message=FormState.failed(exc))
        return Forms(cover={rotation_id: FormState.failed(exc, values)})

    return _apply(request, session, access, change, failed)


@router.post("/rotations/{rotation_id}/overrides/{override_id}/delete")
def delete_override(
    request: Request, rotation_id: int, override_id: int, access: TeamMember, session: DbSession
) -> Response:
    def change() -> Forms:
        rotation = oncall.get_rotation(session, team=access.team, rotation_id=rotation_id)
        override = oncall.get_override(session, rotation=rotation, override_id=override_id)
        person = override.user.display_name
        oncall.delete_override(
            session, team=access.team, rotation=rotation, override=override, actor=access.user
        )
        done = f"{person}'s override is removed; the rotation decides again."
        return Forms(cover={rotation_id: FormState(done=done)})

    return _apply(
        request, session, access, change, lambda exc: Forms(message=FormState.failed(exc))
    )
