"""Team owners setting the team's sprint calendar on the settings page.

The form swaps the calendar section of the settings page (``{% block calendar %}``). An
explicit calendar is typed one sprint per line, ``name, first day, last day``, which is how
teams usually have it in a planning document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.calendars import service as calendars
from opsyard.calendars.errors import INVALID_CALENDAR
from opsyard.errors import FieldProblem, OpsyardError
from opsyard_web.forms import FormState
from opsyard_web.pages.team_settings import settings_context
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/settings/calendar")


@router.post("", response_class=HTMLResponse)
def set_calendar(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    mode: Annotated[str, Form()] = "cadence",
    length_days: Annotated[str, Form()] = "",
    anchor_on: Annotated[str, Form()] = "",
    sprints: Annotated[str, Form()] = "",
) -> HTMLResponse:
    values = {"mode": mode, "length_days": length_days, "anchor_on": anchor_on, "sprints": sprints}
    try:
        if mode == "explicit":
            listed = calendars.parse_sprint_lines(sprints)
            calendars.set_sprints(session, team=access.team, sprints=listed, actor=access.user)
            done = f"{len(listed)} sprints saved."
        else:
            if not length_days.strip().isdigit():
                raise OpsyardError(
                    INVALID_CALENDAR,
                    "The sprint length must be a whole number of days.",
                    fields=[FieldProblem("/length_days", "Give a number of days, such as 14.")],
                )
            anchor = calendars.parse_day(anchor_on, "/anchor_on", "The anchor day")
            calendars.set_cadence(
                session,
                team=access.team,
                length_days=int(length_days),
                anchor_on=anchor,
                actor=access.user,
            )
            done = f"Sprints are now {int(length_days)} days long."
    except OpsyardError as exc:
        session.rollback()
        form = FormState.failed(exc, values)
        return _section(request, access, session, portal, form, exc.error.status)
    session.flush()
    return _section(request, access, session, portal, FormState(done=done), 200)


def _section(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    form: FormState,
    status_code: int,
) -> HTMLResponse:
    context = settings_context(portal.registry, session, access, calendar_form=form)
    return render(
        request,
        "team_settings.html",
        context,
        block_name="calendar",
        status_code=status_code,
        session=session,
    )
