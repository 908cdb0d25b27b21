"""Post-mortems: writing them, the review from draft to published, and finding them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit.models import AuditEntry
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.events.models import StoredEvent
from opsyard.teams.models import Team
from opsyard_postmortems import events, items, parking_lot, postmortems
from opsyard_postmortems.models import DRAFT, IN_REVIEW, PUBLISHED, PostMortem
from opsyard_postmortems.schemas import (
    ActionItemIn,
    IdeaIn,
    LinkIn,
    PostMortemIn,
    PostMortemOut,
    PostMortemPatch,
    PostMortemSummaryOut,
    TimelineEntryIn,
)
from tests.conftest import World

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)
STARTED = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)


def _team(session: Session, world: World, slug: str = "alpha") -> Team:
    return session.merge(world.teams[slug])


def _create(
    session: Session,
    world: World,
    *,
    title: str = "Checkout errors after deploy",
    severity: str = "sev2",
    authors: tuple[str, ...] = ("alice",),
    team: str = "alpha",
) -> PostMortem:
    return postmortems.create_postmortem(
        session,
        portal=world.ctx,
        team=_team(session, world, team),
        actor=session.merge(world.people["alice"]),
        data=PostMortemIn.model_validate(
            {
                "title": title,
                "severity": severity,
                "incident_started_at": STARTED,
                "incident_ended_at": STARTED + timedelta(hours=2),
                "summary": "Payments failed for **40 minutes**.",
                "author_ids": [world.people[who].id for who in authors],
            }
        ),
        now=NOW,
    )


def _audit_actions(session: Session) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.action.like("postmortems.%"))
    return list(session.scalars(query.order_by(AuditEntry.id)))


def test_numbers_count_per_team_and_text_is_stored_as_typed(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        first = _create(session, pm_world)
        second = _create(session, pm_world, title="<script>alert(1)</script>")
        other = postmortems.create_postmortem(
            session,
            portal=pm_world.ctx,
            team=_team(session, pm_world, "beta"),
            actor=None,
            data=PostMortemIn(title="Beta outage", severity="sev1", incident_started_at=STARTED),
        )
        assert (first.number, second.number, other.number) == (1, 2, 1)
        assert second.reference == "PM-2"
        # Stored exactly as typed; pages render Markdown with raw HTML disabled.
        assert second.title == "<script>alert(1)</script>"
        assert first.summary == "Payments failed for **40 minutes**."
        assert first.status == DRAFT
        assert [author.user.email for author in first.authors] == ["alice@example.com"]
        found = postmortems.get_postmortem(session, team=_team(session, pm_world), number=2)
        assert found is second
        with pytest.raises(OpsyardError) as raised:
            postmortems.get_postmortem(session, team=_team(session, pm_world, "beta"), number=2)
        assert raised.value.code == "postmortems.not_found"
        assert _audit_actions(session) == ["postmortems.created"] * 3


def test_invalid_post_mortems_are_refused_with_pointers(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team = _team(session, pm_world)
        cases = [
            ({"incident_ended_at": STARTED - timedelta(minutes=1)}, "/incident_ended_at"),
            (
                {"author_ids": [pm_world.people["alice"].id, pm_world.people["carol"].id]},
                "/author_ids/1",
            ),
            ({"reviewer_id": pm_world.people["vera"].id}, "/reviewer_id"),
            (
                {
                    "author_ids": [pm_world.people["bob"].id],
                    "reviewer_id": pm_world.people["bob"].id,
                },
                "/reviewer_id",
            ),
        ]
        for extra, pointer in cases:
            data = PostMortemIn.model_validate(
                {"title": "x", "severity": "sev4", "incident_started_at": STARTED, **extra}
            )
            with pytest.raises(OpsyardError) as raised:
                postmortems.create_postmortem(
                    session, portal=pm_world.ctx, team=team, actor=None, data=data
                )
            assert raised.value.code == "postmortems.invalid", pointer
            assert raised.value.fields[0].pointer == pointer


def test_the_same_alert_opens_one_draft(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        data = PostMortemIn(title="HighErrorRate", severity="sev3", incident_started_at=STARTED)
        team = _team(session, pm_world)
        created = postmortems.create_postmortem(
            session,
            portal=pm_world.ctx,
            team=team,
            actor=None,
            data=data,
            source="alertmanager",
            source_ref="fp-1",
        )
        with pytest.raises(OpsyardError) as raised:
            postmortems.create_postmortem(
                session,
                portal=pm_world.ctx,
                team=team,
                actor=None,
                data=data,
                source="alertmanager",
                source_ref="fp-1",
            )
        assert raised.value.code == "resource.conflict"
        assert raised.value.extra == {"number": created.number}


def test_review_flow_only_the_reviewer_approves_and_publishing_needs_approval(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _create(session, pm_world, authors=("alice",))
        alice, bob = session.merge(pm_world.people["alice"]), session.merge(pm_world.people["bob"])

        # Nothing to approve or publish in a draft.
        for step in (
            lambda: postmortems.approve(session, postmortem=postmortem, actor=bob),
            lambda: postmortems.publish(
                session, portal=pm_world.ctx, postmortem=postmortem, actor=alice
            ),
        ):
            with pytest.raises(OpsyardError) as raised:
                step()
            assert raised.value.code == "postmortems.invalid_transition"

        # An author cannot review.
        with pytest.raises(OpsyardError) as raised:
            postmortems.request_review(
                session, postmortem=postmortem, actor=alice, reviewer_id=alice.id
            )
        assert raised.value.code == "postmortems.invalid"
        assert raised.value.fields[0].pointer == "/reviewer_id"
        assert postmortem.status == DRAFT

        postmortems.request_review(session, postmortem=postmortem, actor=alice, reviewer_id=bob.id)
        assert postmortem.status == IN_REVIEW
        with pytest.raises(OpsyardError) as raised:
            postmortems.publish(session, portal=pm_world.ctx, postmortem=postmortem, actor=alice)
        assert raised.value.code == "postmortems.approval_required"
        with pytest.raises(OpsyardError) as raised:
            postmortems.approve(session, postmortem=postmortem, actor=alice)
        assert raised.value.code == "auth.forbidden"
        assert postmortem.approved_by_id is None

        postmortems.approve(session, postmortem=postmortem, actor=bob, now=NOW)
        assert postmortem.approved_by_id == bob.id
        assert postmortem.approved_at == NOW
        published_at = NOW + timedelta(hours=1)
        postmortems.publish(
            session, portal=pm_world.ctx, postmortem=postmortem, actor=alice, now=published_at
        )
        assert postmortem.status == PUBLISHED
        assert postmortem.published_at == published_at
        [event] = session.scalars(select(StoredEvent).where(StoredEvent.name == events.PUBLISHED))
        assert event.payload["postmortem"] == postmortem.number
        assert event.payload["url"].endswith("/t/alpha/postmortems/1")
        assert _audit_actions(session) == [
            "postmortems.created",
            "postmortems.review_requested",
            "postmortems.approved",
            "postmortems.published",
        ]
        out = PostMortemOut.from_row(postmortem, now=NOW)
        assert out.reviewer is not None and out.reviewer.email == "bob@example.com"
        assert out.approved_by is not None and out.approved_by.email == "bob@example.com"


def test_a_change_in_review_withdraws_the_approval_and_drafts_can_return(
    pm_world: World,
) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _create(session, pm_world, authors=("alice",))
        alice, bob = session.merge(pm_world.people["alice"]), session.merge(pm_world.people["bob"])
        postmortems.request_review(session, postmortem=postmortem, actor=alice, reviewer_id=bob.id)
        postmortems.approve(session, postmortem=postmortem, actor=bob)
        postmortems.update_postmortem(
            session,
            postmortem=postmortem,
            actor=alice,
            data=PostMortemPatch(lessons="Deploys need a canary."),
        )
        assert postmortem.lessons == "Deploys need a canary."
        assert postmortem.summary == "Payments failed for **40 minutes**."
        assert postmortem.approved_by_id is None
        with pytest.raises(OpsyardError) as raised:
            postmortems.publish(session, portal=pm_world.ctx, postmortem=postmortem, actor=alice)
        assert raised.value.code == "postmortems.approval_required"
        # Making the reviewer an author is refused: they could then approve their own text.
        with pytest.raises(OpsyardError) as raised:
            postmortems.update_postmortem(
                session,
                postmortem=postmortem,
                actor=alice,
                data=PostMortemPatch(author_ids=[alice.id, bob.id]),
            )
        assert raised.value.fields[0].pointer == "/author_ids"
        postmortems.approve(session, postmortem=postmortem, actor=bob)
        postmortems.return_to_draft(session, postmortem=postmortem, actor=alice)
        assert postmortem.status == DRAFT
        assert postmortem.approved_by_id is None and postmortem.approved_at is None


def test_patches_change_only_what_is_sent(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _create(session, pm_world, authors=("alice",))
        alice, bob = session.merge(pm_world.people["alice"]), session.merge(pm_world.people["bob"])
        postmortems.update_postmortem(
            session,
            postmortem=postmortem,
            actor=alice,
            data=PostMortemPatch.model_validate(
                {"severity": "sev1", "incident_ended_at": None, "author_ids": [bob.id, alice.id]}
            ),
        )
        assert postmortem.severity == "sev1"
        assert postmortem.incident_ended_at is None
        assert postmortem.title == "Checkout errors after deploy"
        assert {author.user.email for author in postmortem.authors} == {
            "alice@example.com",
            "bob@example.com",
        }
        with pytest.raises(OpsyardError) as raised:
            postmortems.update_postmortem(
                session,
                postmortem=postmortem,
                actor=alice,
                data=PostMortemPatch.model_validate({"title": None}),
            )
        assert raised.value.fields[0].pointer == "/title"


def test_timeline_links_and_ideas(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = _create(session, pm_world)
        alice = session.merge(pm_world.people["alice"])
        late = postmortems.add_timeline_entry(
            session,
            postmortem=postmortem,
            actor=alice,
            data=TimelineEntryIn(occurred_at=STARTED + timedelta(minutes=30), text="Rolled back"),
        )
        postmortems.add_timeline_entry(
            session,
            postmortem=postmortem,
            actor=alice,
            data=TimelineEntryIn(occurred_at=STARTED, text="Error rate alert fired"),
        )
        assert [entry.text for entry in postmortem.timeline] == [
            "Error rate alert fired",
            "Rolled back",
        ]
        link = postmortems.add_link(
            session,
            postmortem=postmortem,
            actor=alice,
            data=LinkIn(title="Dashboard", url="https://grafana.example.com/d/1"),
        )
        idea = parking_lot.add_idea(
            session, postmortem=postmortem, actor=alice, data=IdeaIn(text="Chaos day")
        )
        out = PostMortemOut.from_row(postmortem, now=NOW)
        assert [(link.title, link.url) for link in out.links] == [
            ("Dashboard", "https://grafana.example.com/d/1")
        ]
        assert [i.text for i in out.ideas] == ["Chaos day"]

        postmortems.delete_timeline_entry(
            session, postmortem=postmortem, entry_id=late.id, actor=alice
        )
        postmortems.delete_link(session, postmortem=postmortem, link_id=link.id, actor=alice)
        parking_lot.delete_idea(session, postmortem=postmortem, idea_id=idea.id, actor=alice)
        assert [entry.text for entry in postmortem.timeline] == ["Error rate alert fired"]
        assert postmortem.links == [] and postmortem.ideas == []

        # Another post-mortem's rows are not reachable through this one.
        other = _create(session, pm_world, title="Other")
        kept = parking_lot.add_idea(session, postmortem=other, actor=alice, data=IdeaIn(text="x"))
        for delete in (
            lambda: parking_lot.delete_idea(
                session, postmortem=postmortem, idea_id=kept.id, actor=alice
            ),
            lambda: postmortems.delete_link(
                session, postmortem=postmortem, link_id=link.id, actor=alice
            ),
        ):
            with pytest.raises(OpsyardError) as raised:
                delete()
            assert raised.value.code == "postmortems.not_found"


def test_listing_filters_by_status_severity_and_overdue(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team = _team(session, pm_world)
        first = _create(session, pm_world, severity="sev1")
        second = _create(session, pm_world, severity="sev3")
        _create(session, pm_world, team="beta", authors=("carol",))
        items.add_item(
            session,
            portal=pm_world.ctx,
            postmortem=second,
            actor=None,
            data=ActionItemIn(
                title="Fix retries", owner_id=pm_world.people["bob"].id, deadline="2026-03-06"
            ),
            now=NOW,
        )
        alice, bob = session.merge(pm_world.people["alice"]), session.merge(pm_world.people["bob"])
        postmortems.request_review(session, postmortem=first, actor=alice, reviewer_id=bob.id)

        def numbers(
            status: str | None = None,
            severity: str | None = None,
            overdue: bool = False,
            now: datetime = NOW,
        ) -> list[int]:
            found = postmortems.list_postmortems(
                session, team=team, status=status, severity=severity, overdue=overdue, now=now
            )
            return [postmortem.number for postmortem in found]

        assert numbers() == [2, 1]
        assert numbers(status=IN_REVIEW) == [1]
        assert numbers(severity="sev3") == [2]
        assert numbers(overdue=True) == []
        later = NOW + timedelta(days=3)
        assert numbers(overdue=True, now=later) == [2]
        summary = PostMortemSummaryOut.from_row(second, now=later)
        assert (summary.open_items, summary.overdue_items) == (1, 1)
        with pytest.raises(OpsyardError) as raised:
            numbers(status="archived")
        assert raised.value.fields[0].pointer == "/status"
