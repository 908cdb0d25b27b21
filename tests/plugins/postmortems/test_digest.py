"""The owners' digest: one message per owner listing their open items, most urgent first,
once per week however often the weekly job runs, and on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from opsyard.db.engine import session_scope
from opsyard.jobs import service as jobs
from opsyard.jobs.catalogue import load_catalogue
from opsyard.notifications.sender import deliver_due
from opsyard_postmortems import digest, items
from opsyard_postmortems.models import ActionItem, Digest
from opsyard_postmortems.schemas import ItemDoneIn
from tests.conftest import World
from tests.core.notifications.receivers import MailServer, SignedReceiver
from tests.plugins.postmortems import test_escalation as shared

# The local mail server and webhook receiver, and the settings that point at them.
mail = shared.mail
receiver = shared.receiver
settings = shared.settings

# Monday 16 March 2026, 08:00 UTC: the digest job's slot in ISO week 12. The items' deadline
# (13 March) has passed.
MONDAY = datetime(2026, 3, 16, 8, tzinfo=UTC)


def _world_with_items(world: World) -> dict[str, int]:
    """Bob owns three open items (one escalated, one overdue, one not yet due) and one done
    item; Alice owns one open item; Carol, in beta, owns one."""
    ctx = world.ctx
    with session_scope(ctx.sessions) as session:
        postmortem = shared.add_postmortem(session, world)
        ids = {
            "escalated": shared.add_item(session, world, postmortem, title="Failover drill").id,
            "overdue": shared.add_item(
                session, world, postmortem, title="Alert on queue depth", deadline="2026-03-13"
            ).id,
            "later": shared.add_item(
                session, world, postmortem, title="Runbook for rollbacks", deadline="2026-03-27"
            ).id,
        }
        second = shared.add_postmortem(session, world)
        ids["alice"] = shared.add_item(
            session, world, second, owner="alice", title="Retire the old queue"
        ).id
        ids["done"] = shared.add_item(session, world, second, title="Pin the base image").id
        items.complete_item(
            session,
            portal=ctx,
            item=session.get_one(ActionItem, ids["done"]),
            actor=shared.person(session, world, "bob"),
            data=ItemDoneIn(evidence_url="https://git.example.com/ops/pull/7"),
            now=shared.CREATED + timedelta(days=1),
        )
        beta = shared.add_postmortem(session, world, "beta")
        ids["carol"] = shared.add_item(session, world, beta, owner="carol", title="Beta item").id
        # What the sweep leaves on an item escalated early, by hand here for a fixed state.
        escalated = session.get_one(ActionItem, ids["escalated"])
        escalated.escalated_at = MONDAY - timedelta(days=1)
        escalated.next_step = escalated.next_action_at = None
    return ids


def _digests(world: World) -> list[tuple[str, int, str, int]]:
    with world.ctx.sessions() as session:
        rows = session.execute(
            select(Digest.team_id, Digest.user_id, Digest.period, Digest.item_count).order_by(
                Digest.id
            )
        ).all()
    slugs = {team.id: slug for slug, team in world.teams.items()}
    return [(slugs[team_id], user_id, period, count) for team_id, user_id, period, count in rows]


def test_the_weekly_digest_is_sent_once_per_owner_per_week(
    pm_world: World, mail: MailServer, receiver: SignedReceiver
) -> None:
    ctx = pm_world.ctx
    shared.add_channels(pm_world, receiver)
    ids = _world_with_items(pm_world)
    bob, alice = pm_world.people["bob"], pm_world.people["alice"]
    week = digest.week_period(MONDAY)
    assert week == "2026-W12"

    with session_scope(ctx.sessions) as session:
        alpha = shared.team_of(session, pm_world)
        assert digest.send_digest(session, portal=ctx, team=alpha, period=week, now=MONDAY) == 2
    # The job running again that week, even later in the week, sends nothing more.
    with session_scope(ctx.sessions) as session:
        alpha = shared.team_of(session, pm_world)
        again = MONDAY + timedelta(days=2)
        assert digest.send_digest(session, portal=ctx, team=alpha, period=week, now=again) == 0
    assert _digests(pm_world) == [("alpha", alice.id, week, 1), ("alpha", bob.id, week, 3)]

    deliver_due(ctx, at=MONDAY + timedelta(minutes=1))
    # One email per owner, to that owner only; nobody without open items gets one.
    assert [envelope.rcpt_tos for envelope in mail.envelopes] == [
        ["alice@example.com"],
        ["bob@example.com"],
    ]
    to_bob = mail.messages[1]
    body = to_bob.get_payload(decode=True).decode()
    listed = [line for line in body.splitlines() if line.startswith("- ")]
    # Escalated first, then overdue, then the rest; the done item is not listed.
    assert [line.split("“")[1].split("”")[0] for line in listed] == [
        "Failover drill",
        "Alert on queue depth",
        "Runbook for rollbacks",
    ]
    assert listed[0].startswith("- [ESCALATED, OVERDUE] “Failover drill”")
    assert listed[1].startswith("- [OVERDUE] “Alert on queue depth”")
    assert listed[2].startswith("- “Runbook for rollbacks” (PM-1), due 2026-03-27:")
    assert listed[0].endswith(f"/t/alpha/postmortems/1#item-{ids['escalated']}")
    assert "Pin the base image" not in body
    subject = " ".join(str(to_bob["Subject"]).split())  # unfolded
    assert subject.endswith(
        "Bob, your open post-mortem action items in Alpha: 3 open, 2 overdue, 1 escalated"
    )
    posted = [payload["data"]["details"] for payload in receiver.verified]
    assert [(d["to"], d["open"], d["period"]) for d in posted] == [
        (["alice@example.com"], 1, week),
        (["bob@example.com"], 3, week),
    ]

    # The next week is a new period.
    with session_scope(ctx.sessions) as session:
        alpha = shared.team_of(session, pm_world)
        next_week = MONDAY + timedelta(days=7)
        sent = digest.send_digest(
            session, portal=ctx, team=alpha, period=digest.week_period(next_week), now=next_week
        )
    assert sent == 2


def test_the_weekly_job_runs_per_team_and_sends_once(pm_world: World) -> None:
    ctx = pm_world.ctx
    _world_with_items(pm_world)
    catalogue = load_catalogue(ctx.registry)
    job = catalogue.get("postmortems.digest")
    assert job is not None and job.spec.per_team and job.spec.cron == "0 8 * * 1"
    for _ in range(2):
        for team in ("alpha", "beta"):
            run = jobs.run_now(
                ctx, catalogue=catalogue, name=job.name, team=team, at=MONDAY, worker="test"
            )
            assert run.outcome == "succeeded", run.error_detail
    carol = pm_world.people["carol"]
    assert sorted(_digests(pm_world)) == sorted(
        [
            ("alpha", pm_world.people["bob"].id, "2026-W12", 3),
            ("alpha", pm_world.people["alice"].id, "2026-W12", 1),
            ("beta", carol.id, "2026-W12", 1),
        ]
    )


def test_a_digest_on_demand_goes_to_the_one_who_asked(pm_world: World) -> None:
    ctx = pm_world.ctx
    _world_with_items(pm_world)
    with session_scope(ctx.sessions) as session:
        alpha = shared.team_of(session, pm_world)
        bob = shared.person(session, pm_world, "bob")
        vera = shared.person(session, pm_world, "vera")
        assert digest.send_digest(session, portal=ctx, team=alpha, user=bob, now=MONDAY) == 1
        # The same request twice (a double click) is one digest; a later one is another.
        assert digest.send_digest(session, portal=ctx, team=alpha, user=bob, now=MONDAY) == 0
        later = MONDAY + timedelta(hours=1)
        assert digest.send_digest(session, portal=ctx, team=alpha, user=bob, now=later) == 1
        # Someone with no open items gets nothing.
        assert digest.send_digest(session, portal=ctx, team=alpha, user=vera, now=MONDAY) == 0
    periods = [period for _, _, period, _ in _digests(pm_world)]
    assert periods == [
        "demand:2026-03-16T08:00:00+00:00",
        "demand:2026-03-16T09:00:00+00:00",
    ]


def test_an_item_done_since_last_week_is_no_longer_listed(pm_world: World) -> None:
    ctx = pm_world.ctx
    ids = _world_with_items(pm_world)
    with session_scope(ctx.sessions) as session:
        for name in ("escalated", "overdue", "later"):
            items.complete_item(
                session,
                portal=ctx,
                item=session.get_one(ActionItem, ids[name]),
                actor=shared.person(session, pm_world, "bob"),
                data=ItemDoneIn(evidence_note="Done"),
                now=MONDAY - timedelta(hours=1),
            )
        alpha = shared.team_of(session, pm_world)
        sent = digest.send_digest(
            session, portal=ctx, team=alpha, period=digest.week_period(MONDAY), now=MONDAY
        )
    assert sent == 1
    assert [user for _, user, _, _ in _digests(pm_world)] == [pm_world.people["alice"].id]
