"""A team's post-mortem settings: defaults, validation, and re-planning open items."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from opsyard.audit.models import AuditEntry
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard_postmortems import items, postmortems
from opsyard_postmortems.models import REMIND
from opsyard_postmortems.schemas import ActionItemIn, PostMortemIn, SettingsIn, SettingsOut
from opsyard_postmortems.settings import settings_for, update_settings
from tests.conftest import World

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)


def test_a_team_starts_with_the_defaults(pm_world: World) -> None:
    with pm_world.ctx.sessions() as session:
        out = SettingsOut.from_row(settings_for(session, team=pm_world.teams["alpha"]))
    assert out.model_dump() == {
        "escalate_after_sprints": 2,
        "max_extensions": 2,
        "reminder_days": 2,
        "team_lead": None,
        "escalation_contact": None,
        "drafts_from_alerts": False,
    }


@pytest.mark.parametrize(
    ("field", "who"),
    [("team_lead_id", "vera"), ("team_lead_id", "carol"), ("escalation_contact_id", "root")],
)
def test_lead_and_contact_must_be_members(pm_world: World, field: str, who: str) -> None:
    with session_scope(pm_world.ctx.sessions) as session, pytest.raises(OpsyardError) as raised:
        update_settings(
            session,
            team=session.merge(pm_world.teams["alpha"]),
            actor=None,
            data=SettingsIn.model_validate({field: pm_world.people[who].id}),
        )
    assert raised.value.code == "postmortems.invalid_settings"
    assert raised.value.fields[0].pointer == f"/{field}"


def test_an_update_is_stored_audited_and_replans_open_items(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team = session.merge(pm_world.teams["alpha"])
        postmortem = postmortems.create_postmortem(
            session,
            portal=pm_world.ctx,
            team=team,
            actor=None,
            data=PostMortemIn(title="Slow search", severity="sev3", incident_started_at=NOW),
            now=NOW,
        )
        item = items.add_item(
            session,
            portal=pm_world.ctx,
            postmortem=postmortem,
            actor=None,
            data=ActionItemIn(
                title="Index the catalogue",
                owner_id=pm_world.people["bob"].id,
                deadline="2026-03-20",
            ),
            now=NOW,
        )
        assert (item.next_step, item.next_action_at) == (REMIND, datetime(2026, 3, 18, tzinfo=UTC))
        alice, bob = pm_world.people["alice"], pm_world.people["bob"]
        row = update_settings(
            session,
            team=team,
            actor=session.merge(alice),
            data=SettingsIn(
                escalate_after_sprints=3,
                max_extensions=1,
                reminder_days=5,
                team_lead_id=alice.id,
                escalation_contact_id=bob.id,
                drafts_from_alerts=True,
            ),
            now=NOW,
        )
        # Five days ahead now.
        assert item.next_action_at == datetime(2026, 3, 15, tzinfo=UTC)
        out = SettingsOut.from_row(row)
        assert out.team_lead is not None and out.team_lead.email == "alice@example.com"
        assert out.escalation_contact is not None
        assert out.escalation_contact.email == "bob@example.com"
        # No reminders at all: the next step is the day after the deadline.
        update_settings(session, team=team, actor=None, data=SettingsIn(reminder_days=0), now=NOW)
        assert (item.next_step, item.next_action_at) == (
            "overdue",
            datetime(2026, 3, 21, tzinfo=UTC),
        )

    with pm_world.ctx.sessions() as session:
        stored = settings_for(session, team=pm_world.teams["alpha"])
        assert (stored.escalate_after_sprints, stored.max_extensions, stored.reminder_days) == (
            2,
            2,
            0,
        )
        assert stored.team_lead_id is None and not stored.drafts_from_alerts
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "postmortems.settings_updated")
        )
        assert len(list(actions)) == 2
        # The other team keeps its defaults.
        assert settings_for(session, team=pm_world.teams["beta"]).reminder_days == 2
