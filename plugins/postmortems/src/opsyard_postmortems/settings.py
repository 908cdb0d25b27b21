"""A team's post-mortem rules, with the defaults a team gets before it changes anything."""

from __future__ import annotations

from sqlalchemy.orm import Session

from opsyard.teams.models import Team
from opsyard_postmortems.models import TeamSettings

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
