"""A team's post-mortem rules, with the defaults a team gets before it changes anything."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_postmortems import ladder
from opsyard_postmortems.errors import INVALID_SETTINGS
from opsyard_postmortems.models import OPEN, ActionItem, TeamSettings

if TYPE_CHECKING:
    # schemas.py reads the defaults below, so it is imported here for type hints only.
    from opsyard_postmortems.schemas import SettingsIn

DEFAULT_ESCALATE_AFTER_SPRINTS = 2
DEFAULT_MAX_EXTENSIONS = 2
DEFAULT_REMINDER_DAYS = 2


def settings_for(session: Session, *, team: Team) -> TeamSettings:
    """The team's settings row; a transient one holding the defaults if it has none yet."""
    row = session.get(TeamSettings, team.id)
    if row is not None:
        return row
    return TeamSettings(
        team_id=team.id,
        escalate_after_sprints=DEFAULT_ESCALATE_AFTER_SPRINTS,
        max_extensions=DEFAULT_MAX_EXTENSIONS,
        reminder_days=DEFAULT_REMINDER_DAYS,
        team_lead_id=None,
        escalation_contact_id=None,
        drafts_from_alerts=False,
    )


def _member(session: Session, *, team: Team, user_id: int | None, pointer: str) -> User | None:
    # The lead and the contact act on escalations, so viewers do not qualify.
    if user_id is None:
        return None
    return teams.require_member(
        session, team=team, user_id=user_id, error=INVALID_SETTINGS, pointer=pointer
    )


def update_settings(
    session: Session,
    *,
    team: Team,
    actor: User | None,
    data: SettingsIn,
    now: datetime | None = None,
) -> TeamSettings:
    """Replace the team's rules and re-plan its open items' reminders and escalations.

    Each item keeps the escalation window fixed when it was created: changing the number of
    sprints applies to items created from now on.
    """
    now = now or utcnow()
    lead = _member(session, team=team, user_id=data.team_lead_id, pointer="/team_lead_id")
    contact = _member(
        session, team=team, user_id=data.escalation_contact_id, pointer="/escalation_contact_id"
    )
    row = session.get(TeamSettings, team.id)
    if row is None:
        row = TeamSettings(team_id=team.id)
        session.add(row)
    row.escalate_after_sprints = data.escalate_after_sprints
    row.max_extensions = data.max_extensions
    row.reminder_days = data.reminder_days
    row.team_lead_id, row.team_lead = data.team_lead_id, lead
    row.escalation_contact_id, row.escalation_contact = data.escalation_contact_id, contact
    row.drafts_from_alerts = data.drafts_from_alerts
    session.flush()
    open_items = session.scalars(
        select(ActionItem).where(ActionItem.team_id == team.id, ActionItem.status == OPEN)
    )
    for item in open_items:
        ladder.replan(item, reminder_days=row.reminder_days, now=now)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="postmortems.settings_updated",
        target=team.slug,
        team_id=team.id,
        detail=data.model_dump(),
    )
    return row
