"""Deadlines: dates and "sprint+k" against cadence and explicit calendars, the escalation
window, and extensions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.calendars import service as calendars
from opsyard.calendars.sprints import CadenceCalendar, ExplicitCalendar, ListedSprint
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.teams.models import Team
from opsyard_postmortems import items, postmortems
from opsyard_postmortems.deadlines import escalation_window_end, parse_deadline
from opsyard_postmortems.models import ESCALATE, OPEN, REMIND, ActionItem, PostMortem
from opsyard_postmortems.schemas import (
    ActionItemIn,
    ActionItemOut,
    DeadlineExtensionIn,
    PostMortemIn,
    SettingsIn,
)
from opsyard_postmortems.settings import update_settings
from tests.conftest import World

# Weekly sprints from Monday 2 March 2026; "today" is Wednesday 11 March, in sprint 2.
WEEKLY = CadenceCalendar(7, date(2026, 3, 2))
TODAY = date(2026, 3, 11)
NOW = datetime(2026, 3, 11, 15, tzinfo=UTC)

# Named sprints with a gap (the week of 13 April is a break).
LISTED = ExplicitCalendar(
    [
        ListedSprint("Spring 1", date(2026, 3, 2), date(2026, 3, 15)),
        ListedSprint("Spring 2", date(2026, 3, 16), date(2026, 4, 12)),
        ListedSprint("Spring 3", date(2026, 4, 20), date(2026, 5, 3)),
    ]
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sprint+0", (date(2026, 3, 15), "sprint+0")),
        ("sprint+1", (date(2026, 3, 22), "sprint+1")),
        (" Sprint + 3 ", (date(2026, 4, 5), "sprint+3")),
        ("2026-03-11", (date(2026, 3, 11), None)),  # today is not in the past
        ("2026-12-24", (date(2026, 12, 24), None)),
    ],
)
def test_a_cadence_resolves_dates_and_sprint_rules(
    value: str, expected: tuple[date, str | None]
) -> None:
    assert parse_deadline(value, calendar=WEEKLY, today=TODAY) == expected


@pytest.mark.parametrize(
    ("today", "value", "expected"),
    [
        (TODAY, "sprint+0", date(2026, 3, 15)),
        (TODAY, "sprint+1", date(2026, 4, 12)),  # a four-week sprint
        (TODAY, "sprint+2", date(2026, 5, 3)),
        # Beyond the list, sprints as long as the last one carry on.
        (TODAY, "sprint+3", date(2026, 5, 17)),
        # A day in the break belongs to the sprint after it.
        (date(2026, 4, 14), "sprint+0", date(2026, 5, 3)),
    ],
)
def test_an_explicit_calendar_resolves_sprint_rules(
    today: date, value: str, expected: date
) -> None:
    assert parse_deadline(value, calendar=LISTED, today=today) == (expected, value)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("2026-03-10", "in the past"),
        ("next friday", "neither a date nor"),
        ("2026-02-30", "not a day"),
        ("sprint-1", "neither a date nor"),
        ("sprint+53", "too far ahead"),
        ("11/03/2026", "neither a date nor"),
    ],
)
def test_bad_deadlines_are_refused_with_a_pointer(value: str, hint: str) -> None:
    with pytest.raises(OpsyardError) as raised:
        parse_deadline(value, calendar=WEEKLY, today=TODAY, pointer="/items/0/deadline")
    assert raised.value.code == "postmortems.invalid_deadline"
    assert hint in raised.value.detail
    assert raised.value.fields[0].pointer == "/items/0/deadline"


def test_the_escalation_window_counts_the_creation_sprint() -> None:
    # Created in sprint 2 (9 to 15 March) with the default of two sprints: the window ends
    # with sprint 3.
    assert escalation_window_end(WEEKLY, created_on=TODAY, sprints=2) == date(2026, 3, 22)
    assert escalation_window_end(WEEKLY, created_on=TODAY, sprints=1) == date(2026, 3, 15)
    assert escalation_window_end(LISTED, created_on=TODAY, sprints=2) == date(2026, 4, 12)


def _setup(session: Session, world: World, *, explicit: bool = False) -> tuple[Team, PostMortem]:
    team = session.merge(world.teams["alpha"])
    alice = session.merge(world.people["alice"])
    if explicit:
        calendars.set_sprints(session, team=team, sprints=LISTED.sprints, actor=alice)
    else:
        calendars.set_cadence(
            session, team=team, length_days=7, anchor_on=date(2026, 3, 2), actor=alice
        )
    postmortem = postmortems.create_postmortem(
        session,
        portal=world.ctx,
        team=team,
        actor=alice,
        data=PostMortemIn(title="Queue backlog", severity="sev3", incident_started_at=NOW),
        now=NOW,
    )
    return team, postmortem


def _add(session: Session, world: World, postmortem: PostMortem, deadline: str) -> ActionItem:
    return items.add_item(
        session,
        portal=world.ctx,
        postmortem=postmortem,
        actor=None,
        data=ActionItemIn(title="Alert on lag", owner_id=world.people["bob"].id, deadline=deadline),
        now=NOW,
    )


def test_items_use_the_teams_calendar(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        _, postmortem = _setup(session, pm_world)
        item = _add(session, pm_world, postmortem, "sprint+1")
        assert (item.deadline, item.created_sprint) == (date(2026, 3, 22), "Sprint 2")
        assert item.escalate_after == date(2026, 3, 22)
    with session_scope(pm_world.ctx.sessions) as session:
        _, postmortem = _setup(session, pm_world, explicit=True)
        item = _add(session, pm_world, postmortem, "sprint+1")
        assert (item.deadline, item.created_sprint) == (date(2026, 4, 12), "Spring 1")
        assert item.escalate_after == date(2026, 4, 12)


def test_a_deadline_beyond_the_escalation_window_is_refused(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team, postmortem = _setup(session, pm_world)
        for deadline in ("sprint+2", "2026-03-23"):
            with pytest.raises(OpsyardError) as raised:
                _add(session, pm_world, postmortem, deadline)
            assert raised.value.code == "postmortems.invalid_deadline"
            assert "2026-03-22" in raised.value.detail
            assert "escalation window" in raised.value.detail
        # A team that allows three sprints accepts it.
        update_settings(
            session,
            team=team,
            actor=None,
            data=SettingsIn(escalate_after_sprints=3),
            now=NOW,
        )
        item = _add(session, pm_world, postmortem, "sprint+2")
        assert item.escalate_after == date(2026, 3, 29)


def _extend(session: Session, item: ActionItem, actor: User, deadline: str, reason: str) -> None:
    items.extend_deadline(
        session,
        item=item,
        actor=actor,
        data=DeadlineExtensionIn(deadline=deadline, reason=reason),
        now=NOW,
    )


def test_extensions_need_a_reason_and_are_limited(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team, postmortem = _setup(session, pm_world)
        bob = session.merge(pm_world.people["bob"])
        item = _add(session, pm_world, postmortem, "2026-03-13")
        with pytest.raises(OpsyardError) as raised:
            _extend(session, item, bob, "2026-03-20", "")
        assert raised.value.code == "postmortems.reason_required"
        with pytest.raises(OpsyardError) as raised:
            _extend(session, item, bob, "2026-03-12", "earlier")
        assert raised.value.code == "postmortems.invalid_deadline"
        assert item.extensions_used == 0

        _extend(session, item, bob, "2026-03-20", "Waiting for the vendor")
        # Beyond the window: allowed for an extension, which widens the window to the end of
        # the sprint holding the new deadline.
        _extend(session, item, bob, "sprint+3", "Vendor slipped")
        assert (item.deadline, item.deadline_rule) == (date(2026, 4, 5), "sprint+3")
        assert item.escalate_after == date(2026, 4, 5)
        assert item.extensions_used == 2
        with pytest.raises(OpsyardError) as raised:
            _extend(session, item, bob, "2026-04-30", "One more time")
        assert raised.value.code == "postmortems.extensions_exhausted"
        assert item.deadline == date(2026, 4, 5)

        history = items.item_history(session, item=item)
        assert [entry.kind for entry in history] == [
            "created",
            "deadline_extended",
            "deadline_extended",
        ]
        assert history[1].detail["reason"] == "Waiting for the vendor"
        assert history[1].detail["old_deadline"] == "2026-03-13"
        assert history[2].detail["deadline"] == "2026-04-05"

        # The team's limit is a setting.
        update_settings(session, team=team, actor=None, data=SettingsIn(max_extensions=3), now=NOW)
        _extend(session, item, bob, "2026-04-30", "One more time")
        assert item.extensions_used == 3


def test_an_extension_ends_an_escalation_and_restarts_the_ladder(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        _, postmortem = _setup(session, pm_world)
        bob = session.merge(pm_world.people["bob"])
        item = _add(session, pm_world, postmortem, "2026-03-16")
        # The sweep escalated it after the window (22 March) ended.
        late = datetime(2026, 3, 23, 6, tzinfo=UTC)
        item.reminded_at = item.overdue_at = item.escalated_at = late
        item.next_step = item.next_action_at = None
        item.decision_needed = True
        assert ActionItemOut.from_row(item, now=late).escalated

        items.extend_deadline(
            session,
            item=item,
            actor=bob,
            data=DeadlineExtensionIn(deadline="2026-04-01", reason="Re-planned with the lead"),
            now=late,
        )
        out = ActionItemOut.from_row(item, now=late)
        assert item.status == OPEN
        assert not out.escalated and not out.overdue and not out.decision_needed
        assert item.reminded_at is None and item.overdue_at is None
        # Sprint 5 (30 March to 5 April) holds the new deadline.
        assert item.escalate_after == date(2026, 4, 5)
        assert item.next_step == REMIND
        assert item.next_action_at == datetime(2026, 3, 30, tzinfo=UTC)
        assert items.item_history(session, item=item)[-1].detail["was_escalated"] is True


def test_a_change_to_an_overdue_item_plans_its_escalation(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        _, postmortem = _setup(session, pm_world)
        item = _add(session, pm_world, postmortem, "2026-03-22")
        # The reminder is due first; after the deadline the sweep takes the latest due step.
        assert item.next_step == REMIND
        item.reminded_at = item.overdue_at = NOW + timedelta(days=12)
        items.change_owner(
            session,
            item=item,
            actor=session.merge(pm_world.people["alice"]),
            owner_id=pm_world.people["alice"].id,
            now=NOW + timedelta(days=12),
        )
        assert item.next_step == ESCALATE
        assert item.next_action_at == datetime(2026, 3, 23, tzinfo=UTC)
