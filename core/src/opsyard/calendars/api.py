"""/api/v1/teams/{team}/calendar: the team's sprint calendar."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, TeamAccess, TeamOwner
from opsyard.calendars import service
from opsyard.calendars.errors import INVALID_CALENDAR
from opsyard.calendars.schemas import CalendarIn, CalendarOut, SprintOut
from opsyard.calendars.sprints import ListedSprint, Sprint, upcoming
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams.models import Team

router = APIRouter(prefix="/teams/{team}/calendar", tags=["calendar"])

UPCOMING_SPRINTS = 6


def _sprint_out(sprint: Sprint) -> SprintOut:
    return SprintOut(
        number=sprint.number, name=sprint.name, starts_on=sprint.starts_on, ends_on=sprint.ends_on
    )


def calendar_out(session: Session, *, team: Team, today: date) -> CalendarOut:
    """The team's calendar as the API shows it, with the sprints from `today` on."""
    calendar = service.calendar_for(session, team=team)
    view = service.describe(session, team=team)
    ahead = upcoming(calendar, today, UPCOMING_SPRINTS)
    return CalendarOut(
        mode=view.mode,
        length_days=view.length_days,
        anchor_on=view.anchor_on,
        is_default=view.is_default,
        sprints=[
            _sprint_out(calendar.sprint_number(number + 1)) for number in range(len(view.listed))
        ],
        current=_sprint_out(ahead[0]),
        upcoming=[_sprint_out(sprint) for sprint in ahead],
    )


@router.get("", response_model=CalendarOut)
def get_calendar(access: TeamAccess, session: DbSession) -> CalendarOut:
    return calendar_out(session, team=access.team, today=utcnow().date())


@router.put("", response_model=CalendarOut)
def put_calendar(body: CalendarIn, access: TeamOwner, session: DbSession) -> CalendarOut:
    if body.mode == "cadence":
        missing = [
            FieldProblem(f"/{name}", "Required for a cadence calendar.")
            for name in ("length_days", "anchor_on")
            if getattr(body, name) is None
        ]
        if missing or body.length_days is None or body.anchor_on is None:
            raise OpsyardError(INVALID_CALENDAR, "Give length_days and anchor_on.", fields=missing)
        service.set_cadence(
            session,
            team=access.team,
            length_days=body.length_days,
            anchor_on=body.anchor_on,
            actor=access.user,
        )
    else:
        service.set_sprints(
            session,
            team=access.team,
            sprints=[ListedSprint(s.name, s.starts_on, s.ends_on) for s in body.sprints],
            actor=access.user,
        )
    return calendar_out(session, team=access.team, today=utcnow().date())
