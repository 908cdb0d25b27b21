"""The follow-through panel on a team's home page.

The dashboard hook gets no template environment, so the panel has its own: the plugin's
templates, autoescaped like the pages.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.calendars.service import calendar_for
from opsyard.extension import Widget
from opsyard.teams.models import Team
from opsyard_postmortems.metrics import follow_through
from opsyard_postmortems.models import OPEN, ActionItem

_ENVIRONMENT = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def follow_through_widget(session: Session, *, team: Team, user: User, now: datetime) -> Widget:
    """This sprint's figures, the team's overdue items and the viewer's open ones."""
    sprint = calendar_for(session, team=team).sprint_on(now.date())
    current = follow_through(session, team=team, now=now, sprint=sprint)
    overall = follow_through(session, team=team, now=now)
    mine = session.scalar(
        select(func.count())
        .select_from(ActionItem)
        .where(ActionItem.team_id == team.id, ActionItem.owner_id == user.id)
        .where(ActionItem.status == OPEN)
    )
    html = _ENVIRONMENT.get_template("postmortems/widget.html").render(
        team=team, sprint=sprint, current=current, overall=overall, mine=mine or 0
    )
    return Widget(title="Post-mortem follow-through", html=html, order=50)
