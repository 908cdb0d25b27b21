"""Action items: the limit of three, owners, completion, deprioritizing, reopening, and the
record every change leaves.

The team uses the default calendar (two-week sprints from Monday 5 January 2026): "now" is
Wednesday 4 March 2026, in sprint 5 (2 to 15 March); sprint 6 ends on 29 March.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard.db.engine import session_scope
from opsyard.errors import Category, OpsyardError
from opsyard.events.models import StoredEvent
from opsyard.problems import problem_body
from opsyard.teams.models import Team
from opsyard_postmortems import events, items, postmortems
from opsyard_postmortems.models import (
    DEPRIORITIZED,
    DONE,
    OPEN,
    REMIND,
    ActionItem,
    PostMortem,
)
from opsyard_postmortems.schemas import (
    ActionItemIn,
    ActionItemOut,
    ItemDeprioritizeIn,
    ItemDoneIn,
    ItemReopenIn,
    PostMortemIn,
)
from tests.conftest import World

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)


def _team(session: Session, world: World, slug: str = "alpha") -> Team:
    return session.merge(world.teams[slug])


def _postmortem(session: Session, world: World) -> PostMortem:
    return postmortems.create_postmortem(
        session,
        portal=world.ctx,
        team=_team(session, world),
        actor=session.merge(world.people["alice"]),
        data=PostMortemIn(
            title="Checkout errors", severity="sev2", incident_started_at=NOW - timedelta(days=1)
        ),
        now=NOW,
    )


def _add(
    session: Session,
    world: World,
    postmortem: PostMortem,
    *,
    title: str = "Add a canary stage",
    owner: str = "bob",
    deadline: str = "sprint+1",
    now: datetime = NOW,
) -> ActionItem:
    return items.add_item(
        session,
        portal=world.ctx,
        postmortem=postmortem,
        actor=session.merge(world.people["alice"]),
        data=ActionItemIn(title=title, owner_id=world.people[owner].id, deadline=deadline),
        now=now,
    )


def _events(session: Session, name: str) -> list[StoredEvent]:
    return list(session.scalars(select(StoredEvent).where(StoredEvent.name == name)))


def test_a_new_item_gets_its_deadline_sprint_and_escalation_window(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world), deadline="sprint+0")
        assert item.deadline == date(2026, 3, 15)
        assert item.deadline_rule == "sprint+0"
        assert item.created_sprint == "Sprint 5"
        assert item.escalate_after == date(2026, 3, 29)
        assert item.status == OPEN
        # Two days before the deadline (default reminder_days), at the start of the UTC day.
        assert item.next_step == REMIND
        assert item.next_action_at == datetime(2026, 3, 13, tzinfo=UTC)
        [created] = items.item_history(session, item=item)
        assert created.kind == "created"
        assert created.actor_id == pm_world.people["alice"].id
        assert created.detail["deadline"] == "2026-03-15"


def test_a_fourth_item_is_refused_and_points_to_the_parking_lot(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        for n in range(3):
            _add(session, pm_world, postmortem, title=f"item {n}")
        with pytest.raises(OpsyardError) as raised:
            _add(session, pm_world, postmortem, title="one more")
    error = raised.value
    assert error.code == "postmortems.too_many_action_items"
    assert error.error.status == 422
    assert error.category is Category.USER_FIXABLE
    assert "parking lot" in error.detail
    body = problem_body(error, "req-1")
    assert body["category"] == "user_fixable"
    assert body["status"] == 422
    assert "parking lot" in body["remediation"]
    assert body["errors"][0]["pointer"] == "/title"


def test_done_and_deprioritized_items_still_count_towards_three(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        first, second, _third = (_add(session, pm_world, postmortem, title=f"i{n}") for n in "123")
        alice = session.merge(pm_world.people["alice"])
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=first,
            actor=alice,
            data=ItemDoneIn(evidence_note="Shipped"),
            now=NOW,
        )
        items.deprioritize_item(
            session,
            portal=pm_world.ctx,
            item=second,
            actor=alice,
            data=ItemDeprioritizeIn(
                reason="Replaced by the new gateway", revisit_on=date(2026, 6, 1)
            ),
            now=NOW,
        )
        with pytest.raises(OpsyardError) as raised:
            _add(session, pm_world, postmortem, title="a fourth")
        assert raised.value.code == "postmortems.too_many_action_items"
        count = session.scalar(
            select(func.count()).where(ActionItem.postmortem_id == postmortem.id)
        )
        assert count == 3


@pytest.mark.parametrize(
    ("owner", "why"),
    [("vera", "a viewer"), ("carol", "in another team"), ("root", "in no team")],
)
def test_the_owner_must_be_a_member_of_the_team(pm_world: World, owner: str, why: str) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        with pytest.raises(OpsyardError) as raised:
            _add(session, pm_world, postmortem, owner=owner)
    assert raised.value.code == "postmortems.owner_not_member", why
    assert raised.value.fields[0].pointer == "/owner_id"


def test_owners_of_the_team_can_own_items_and_ownership_can_move(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world), owner="alice")
        alice = session.merge(pm_world.people["alice"])
        with pytest.raises(OpsyardError) as raised:
            items.change_owner(
                session, item=item, actor=alice, owner_id=pm_world.people["vera"].id, now=NOW
            )
        assert raised.value.code == "postmortems.owner_not_member"
        items.change_owner(
            session, item=item, actor=alice, owner_id=pm_world.people["bob"].id, now=NOW
        )
        assert item.owner.email == "bob@example.com"
        change = items.item_history(session, item=item)[-1]
        assert change.kind == "owner_changed"
        assert change.detail == {"old": "alice@example.com", "new": "bob@example.com"}


def test_done_needs_evidence_and_may_come_from_an_integration(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world))
        with pytest.raises(OpsyardError) as raised:
            items.complete_item(
                session,
                portal=pm_world.ctx,
                item=item,
                actor=None,
                data=ItemDoneIn(evidence_url=None, evidence_note="   "),
                now=NOW,
            )
        assert raised.value.code == "postmortems.evidence_required"
        later = NOW + timedelta(days=2)
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=None,
            data=ItemDoneIn(evidence_url="https://github.com/acme/shop/issues/7"),
            now=later,
        )
        assert item.status == DONE
        assert item.done_at == later
        assert item.next_step is None and item.next_action_at is None
        done = items.item_history(session, item=item)[-1]
        assert done.kind == "done"
        assert done.actor_id is None
        assert done.detail["evidence_url"] == "https://github.com/acme/shop/issues/7"
        [event] = _events(session, events.COMPLETED)
        assert event.payload["item_id"] == item.id
        assert event.payload["status"] == DONE
        with pytest.raises(OpsyardError) as raised:
            items.complete_item(
                session,
                portal=pm_world.ctx,
                item=item,
                actor=None,
                data=ItemDoneIn(evidence_note="again"),
                now=later,
            )
        assert raised.value.code == "postmortems.invalid_transition"


def test_deprioritizing_needs_a_reason_and_a_revisit_date_and_records_who(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world))
        bob = session.merge(pm_world.people["bob"])
        for data, code, pointer in [
            (
                ItemDeprioritizeIn(reason="  ", revisit_on=date(2026, 6, 1)),
                "postmortems.reason_required",
                "/reason",
            ),
            (
                ItemDeprioritizeIn(reason="No capacity", revisit_on=NOW.date()),
                "request.invalid",
                "/revisit_on",
            ),
        ]:
            with pytest.raises(OpsyardError) as raised:
                items.deprioritize_item(
                    session, portal=pm_world.ctx, item=item, actor=bob, data=data, now=NOW
                )
            assert raised.value.code == code
            assert raised.value.fields[0].pointer == pointer
        assert item.status == OPEN
        items.deprioritize_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=bob,
            data=ItemDeprioritizeIn(reason="No capacity until Q3", revisit_on=date(2026, 7, 1)),
            now=NOW,
        )
        out = ActionItemOut.from_row(item, now=NOW)
        assert out.status == DEPRIORITIZED
        assert out.deprioritized_reason == "No capacity until Q3"
        assert out.deprioritized_by is not None and out.deprioritized_by.email == "bob@example.com"
        assert out.revisit_on == date(2026, 7, 1)
        assert item.next_action_at is None
        entry = items.item_history(session, item=item)[-1]
        assert (entry.kind, entry.actor_id) == ("deprioritized", pm_world.people["bob"].id)
        assert entry.detail["reason"] == "No capacity until Q3"
        assert len(_events(session, events.DEPRIORITIZED)) == 1


def test_reopening_is_recorded_and_needs_a_new_deadline_once_the_old_one_passed(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world), deadline="2026-03-10")
        alice = session.merge(pm_world.people["alice"])
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=alice,
            data=ItemDoneIn(evidence_note="Done"),
            now=NOW,
        )
        with pytest.raises(OpsyardError) as raised:
            items.reopen_item(
                session, portal=pm_world.ctx, item=item, actor=alice, data=ItemReopenIn(), now=NOW
            )
        assert raised.value.code == "postmortems.reason_required"
        # Before the old deadline no new one is needed.
        items.reopen_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=alice,
            data=ItemReopenIn(reason="The fix was reverted"),
            now=NOW,
        )
        assert item.status == OPEN
        assert item.done_at is None and item.evidence_note is None
        assert item.next_step == REMIND
        assert item.next_action_at == datetime(2026, 3, 8, tzinfo=UTC)
        # Done again, then reopened after the deadline: a new deadline is required.
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=alice,
            data=ItemDoneIn(evidence_note="Done for real"),
            now=NOW,
        )
        later = datetime(2026, 3, 12, 9, tzinfo=UTC)
        with pytest.raises(OpsyardError) as raised:
            items.reopen_item(
                session,
                portal=pm_world.ctx,
                item=item,
                actor=alice,
                data=ItemReopenIn(reason="Reverted again"),
                now=later,
            )
        assert raised.value.code == "postmortems.invalid_deadline"
        assert raised.value.fields[0].pointer == "/deadline"
        items.reopen_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=alice,
            data=ItemReopenIn(reason="Reverted again", deadline="sprint+1"),
            now=later,
        )
        assert item.status == OPEN
        assert item.deadline == date(2026, 3, 29)
        history = items.item_history(session, item=item)
        assert [entry.kind for entry in history] == [
            "created",
            "done",
            "reopened",
            "done",
            "reopened",
        ]
        assert history[2].detail["reason"] == "The fix was reverted"
        assert history[2].detail["previous_status"] == DONE
        assert history[4].detail["old_deadline"] == "2026-03-10"
        assert history[4].detail["deadline"] == "2026-03-29"
        assert len(_events(session, events.REOPENED)) == 2
        with pytest.raises(OpsyardError) as raised:
            items.reopen_item(
                session,
                portal=pm_world.ctx,
                item=item,
                actor=alice,
                data=ItemReopenIn(reason="again"),
                now=later,
            )
        assert raised.value.code == "postmortems.invalid_transition"


def _escalate(session: Session, item: ActionItem, at: datetime) -> None:
    # What the sweep leaves behind once it has taken the escalation step.
    item.overdue_at = item.escalated_at = at
    item.next_step = item.next_action_at = None
    session.flush()


def test_a_decision_ends_an_escalation(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        done, parked = _add(session, pm_world, postmortem), _add(session, pm_world, postmortem)
        after_window = datetime(2026, 3, 30, 8, tzinfo=UTC)
        alice = session.merge(pm_world.people["alice"])
        for item in (done, parked):
            _escalate(session, item, after_window)
            assert ActionItemOut.from_row(item, now=after_window).escalated
        escalated = items.list_items(
            session, team_ids=[postmortem.team_id], escalated=True, now=after_window
        )
        assert {item.id for item in escalated} == {done.id, parked.id}
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=done,
            actor=alice,
            data=ItemDoneIn(evidence_note="Finally shipped"),
            now=after_window,
        )
        items.deprioritize_item(
            session,
            portal=pm_world.ctx,
            item=parked,
            actor=alice,
            data=ItemDeprioritizeIn(reason="Superseded", revisit_on=date(2026, 5, 1)),
            now=after_window,
        )
        for item in (done, parked):
            out = ActionItemOut.from_row(item, now=after_window)
            assert not out.escalated and not out.overdue
            assert item.next_step is None
            assert items.item_history(session, item=item)[-1].detail["was_escalated"] is True
        assert (
            items.list_items(
                session, team_ids=[postmortem.team_id], escalated=True, now=after_window
            )
            == []
        )


def test_listing_filters_by_owner_status_and_overdue(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        soon = _add(session, pm_world, postmortem, deadline="2026-03-05", owner="alice")
        later = _add(session, pm_world, postmortem, deadline="sprint+1")
        alpha = [postmortem.team_id]
        beta = [pm_world.teams["beta"].id]
        day_after = datetime(2026, 3, 6, 9, tzinfo=UTC)
        assert items.list_items(session, team_ids=alpha, now=day_after) == [soon, later]
        assert items.list_items(session, team_ids=alpha, overdue=True, now=day_after) == [soon]
        assert items.list_items(session, team_ids=alpha, overdue=True, now=NOW) == []
        mine = items.list_items(
            session, team_ids=alpha, owner_id=pm_world.people["bob"].id, now=NOW
        )
        assert mine == [later]
        assert items.list_items(session, team_ids=alpha, status=DONE, now=NOW) == []
        assert items.list_items(session, team_ids=beta, now=NOW) == []
        assert ActionItemOut.from_row(soon, now=day_after).overdue
        with pytest.raises(OpsyardError) as raised:
            items.list_items(session, team_ids=alpha, status="closed", now=NOW)
        assert raised.value.fields[0].pointer == "/status"
        # An item is found only through its own team.
        with pytest.raises(OpsyardError) as raised:
            items.get_item(session, team=_team(session, pm_world, "beta"), item_id=soon.id)
        assert raised.value.code == "postmortems.not_found"
        assert items.get_item(session, team=_team(session, pm_world), item_id=soon.id) is soon


def test_a_linked_github_issue_gets_a_key_and_not_planned_asks_for_a_decision(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        item = _add(session, pm_world, _postmortem(session, pm_world))
        alice = session.merge(pm_world.people["alice"])
        items.link_tracker(
            session, item=item, actor=alice, url="https://github.com/Acme/Shop/issues/123", now=NOW
        )
        assert item.tracker_key == "github:acme/shop#123"
        assert item.tracker_key == items.github_issue_key("Acme/Shop", 123)
        items.link_tracker(
            session, item=item, actor=alice, url="https://jira.example.com/browse/OPS-1", now=NOW
        )
        assert item.tracker_url == "https://jira.example.com/browse/OPS-1"
        assert item.tracker_key is None
        with pytest.raises(OpsyardError) as raised:
            items.link_tracker(session, item=item, actor=alice, url="javascript:alert(1)", now=NOW)
        assert raised.value.fields[0].pointer == "/url"

        items.mark_decision_needed(
            session,
            item=item,
            evidence_url="https://github.com/acme/shop/issues/123",
            note="Closed as not planned",
            now=NOW,
        )
        assert item.decision_needed
        assert items.item_history(session, item=item)[-1].kind == "decision_needed"
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=item,
            actor=alice,
            data=ItemDoneIn(evidence_note="Done another way"),
            now=NOW,
        )
        assert not item.decision_needed
        # A closed item has nothing left to decide.
        items.mark_decision_needed(session, item=item, evidence_url="https://x.test/1", note="")
        assert not item.decision_needed
        kinds = [entry.kind for entry in items.item_history(session, item=item)]
        assert kinds == ["created", "tracker_linked", "tracker_linked", "decision_needed", "done"]


def _add_in_own_session(world: World, number: int, title: str, outcome: dict[str, str]) -> None:
    try:
        with session_scope(world.ctx.sessions) as session:
            postmortem = postmortems.get_postmortem(
                session, team=_team(session, world), number=number
            )
            _add(session, world, postmortem, title=title)
        outcome[title] = "added"
    except OpsyardError as exc:
        outcome[title] = exc.code


def test_two_sessions_adding_the_third_and_fourth_item_leave_exactly_three(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _postmortem(session, pm_world)
        _add(session, pm_world, postmortem, title="one")
        _add(session, pm_world, postmortem, title="two")
        number, postmortem_id = postmortem.number, postmortem.id

    outcome: dict[str, str] = {}
    first = pm_world.ctx.sessions()
    try:
        held = postmortems.get_postmortem(first, team=_team(first, pm_world), number=number)
        # The first session adds the third item and keeps its transaction open...
        _add(first, pm_world, held, title="three")
        # ...while a second session, in another thread, tries to add a fourth.
        racer = threading.Thread(
            target=_add_in_own_session, args=(pm_world, number, "four", outcome)
        )
        racer.start()
        racer.join(timeout=1.0)
        # Still waiting for the first session's lock, not finished with a stale count.
        assert racer.is_alive()
        first.commit()
    finally:
        first.close()
    racer.join(timeout=30)
    assert not racer.is_alive()
    assert outcome == {"four": "postmortems.too_many_action_items"}
    with pm_world.ctx.sessions() as session:
        titles = session.scalars(
            select(ActionItem.title)
            .where(ActionItem.postmortem_id == postmortem_id)
            .order_by(ActionItem.id)
        )
        assert list(titles) == ["one", "two", "three"]
