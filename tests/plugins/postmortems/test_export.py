"""The Markdown export holds every section of a post-mortem."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from opsyard.db.engine import session_scope
from opsyard_postmortems import export, items, parking_lot, postmortems
from opsyard_postmortems.schemas import (
    ActionItemIn,
    IdeaIn,
    ItemDeprioritizeIn,
    ItemDoneIn,
    LinkIn,
    PostMortemIn,
    TimelineEntryIn,
)
from tests.conftest import World

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)
STARTED = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)


def test_the_export_contains_every_section(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        alice = session.merge(pm_world.people["alice"])
        bob = session.merge(pm_world.people["bob"])
        postmortem = postmortems.create_postmortem(
            session,
            portal=pm_world.ctx,
            team=session.merge(pm_world.teams["alpha"]),
            actor=alice,
            data=PostMortemIn(
                title="Checkout errors after deploy",
                severity="sev2",
                incident_started_at=STARTED,
                incident_ended_at=STARTED + timedelta(minutes=40),
                summary="Payments failed for **40 minutes**.",
                impact="1,200 orders | 3 regions.",
                contributing_factors="- No canary\n- Alert too slow",
                lessons="Roll out in stages.",
                author_ids=[alice.id],
            ),
            now=NOW,
        )
        for minutes, text in [(0, "Deploy started"), (12, "Error rate alert fired\nPaged on-call")]:
            postmortems.add_timeline_entry(
                session,
                postmortem=postmortem,
                actor=alice,
                data=TimelineEntryIn(occurred_at=STARTED + timedelta(minutes=minutes), text=text),
            )
        postmortems.add_link(
            session,
            postmortem=postmortem,
            actor=alice,
            data=LinkIn(title="Dashboard [prod]", url="https://grafana.example.com/d/1"),
        )
        parking_lot.add_idea(
            session, postmortem=postmortem, actor=alice, data=IdeaIn(text="Run a chaos day")
        )
        _canary, alert, retries = (
            items.add_item(
                session,
                portal=pm_world.ctx,
                postmortem=postmortem,
                actor=alice,
                data=ActionItemIn(title=title, owner_id=bob.id, deadline=deadline),
                now=NOW,
            )
            for title, deadline in [
                ("Add a canary stage", "sprint+1"),
                ("Alert | on p99", "2026-03-10"),
                ("Retry budget", "2026-03-20"),
            ]
        )
        items.complete_item(
            session,
            portal=pm_world.ctx,
            item=alert,
            actor=bob,
            data=ItemDoneIn(evidence_url="https://github.com/acme/shop/pull/9"),
            now=NOW,
        )
        items.deprioritize_item(
            session,
            portal=pm_world.ctx,
            item=retries,
            actor=alice,
            data=ItemDeprioritizeIn(reason="Gateway rewrite", revisit_on=date(2026, 6, 1)),
            now=NOW,
        )
        postmortems.request_review(session, postmortem=postmortem, actor=alice, reviewer_id=bob.id)
        postmortems.approve(session, postmortem=postmortem, actor=bob, now=NOW)
        session.flush()
        session.expire_all()
        document = export.to_markdown(
            postmortems.get_postmortem(
                session, team=session.merge(pm_world.teams["alpha"]), number=1
            )
        )

    lines = document.splitlines()
    assert lines[0] == "# PM-1: Checkout errors after deploy"
    assert "- **Severity:** SEV2" in lines
    assert "- **Status:** in review" in lines
    assert "- **Incident window:** 2026-03-03 14:05 UTC to 2026-03-03 14:45 UTC" in lines
    assert "- **Authors:** Alice <alice@example.com>" in lines
    assert "- **Reviewer:** Bob <bob@example.com>, approved 2026-03-04 10:00 UTC" in lines
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Contributing factors",
        "## Lessons",
        "## Action items",
        "## Parking lot",
        "## Links",
    ]
    assert "Payments failed for **40 minutes**." in lines
    assert "- No canary" in lines and "Roll out in stages." in lines
    assert "- **2026-03-03 14:05 UTC** Deploy started" in lines
    # A multi-line entry stays one list item.
    assert "- **2026-03-03 14:17 UTC** Error rate alert fired" in lines
    assert "  Paged on-call" in lines
    assert "| # | Item | Owner | Deadline | Status | Evidence |" in lines
    assert (
        "| 1 | Add a canary stage | Bob <bob@example.com> | 2026-03-29 (end of sprint +1) "
        "| open |  |" in lines
    )
    assert (
        "| 2 | Alert \\| on p99 | Bob <bob@example.com> | 2026-03-10 | done "
        "| <https://github.com/acme/shop/pull/9> |" in lines
    )
    assert (
        "| 3 | Retry budget | Bob <bob@example.com> | 2026-03-20 | deprioritized "
        "| Deprioritized by Alice <alice@example.com>: Gateway rewrite; revisit on 2026-06-01 |"
        in lines
    )
    assert "- Run a chaos day" in lines
    assert "- [Dashboard \\[prod\\]](<https://grafana.example.com/d/1>)" in lines


def test_empty_sections_say_so(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        postmortem = postmortems.create_postmortem(
            session,
            portal=pm_world.ctx,
            team=session.merge(pm_world.teams["alpha"]),
            actor=None,
            data=PostMortemIn(title="Blip", severity="sev4", incident_started_at=STARTED),
        )
        document = export.to_markdown(postmortem)
    assert "- **Incident window:** 2026-03-03 14:05 UTC, still ongoing" in document
    assert "- **Reviewer:** not yet chosen" in document
    assert "## Action items\n\n_None._" in document
    assert "## Timeline\n\n_None._" in document
    assert document.count("_None._") == 8
    assert document.endswith("_None._\n")
