"""The escalation sweep over stepped time: each ladder step taken once, on one worker or two,
only for teams that have the plugin on, and reading only the items that are due.

The team uses the default calendar (two-week sprints from Monday 5 January 2026). Items are
created on Wednesday 4 March 2026, in the sprint of 2 to 15 March, with the deadline Friday
13 March: the reminder is due on 11 March (two days ahead), the overdue step on 14 March,
and the escalation on 30 March, the day after the following sprint ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.orm import Session

from opsyard.auth import users
from opsyard.auth.models import User
from opsyard.config import Settings
from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.events.models import StoredEvent
from opsyard.jobs import service as jobs
from opsyard.jobs.catalogue import load_catalogue
from opsyard.jobs.models import JobRun
from opsyard.notifications import channels
from opsyard.notifications.models import Notification
from opsyard.notifications.sender import deliver_due
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_postmortems import escalation, events, items, postmortems
from opsyard_postmortems.ladder import start_of
from opsyard_postmortems.models import (
    ESCALATE,
    OPEN,
    OVERDUE,
    REMIND,
    ActionItem,
    ItemHistory,
    PostMortem,
)
from opsyard_postmortems.schemas import (
    ActionItemIn,
    DeadlineExtensionIn,
    ItemDoneIn,
    PostMortemIn,
    SettingsIn,
)
from opsyard_postmortems.settings import update_settings
from tests.conftest import World
from tests.core.notifications.receivers import MailServer, SignedReceiver

CREATED = datetime(2026, 3, 4, 10, tzinfo=UTC)
DEADLINE = "2026-03-13"
REMIND_AT = start_of(date(2026, 3, 11))
OVERDUE_AT = start_of(date(2026, 3, 14))
ESCALATE_AT = start_of(date(2026, 3, 30))


# -- shared with the digest and integration tests ------------------------------------------


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[SignedReceiver]:
    server = SignedReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, mail: MailServer, receiver: SignedReceiver) -> Settings:
    """The test settings with SMTP pointed at the local mail server."""
    mail.reset()
    receiver.reset()
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mail.port,
            "smtp_security": "none",
            "smtp_from": "opsyard@example.com",
            "smtp_timeout_seconds": 5.0,
        }
    )


def team_of(session: Session, world: World, slug: str = "alpha") -> Team:
    return session.merge(world.teams[slug])


def person(session: Session, world: World, who: str) -> User:
    return session.merge(world.people[who])


def add_postmortem(session: Session, world: World, team: str = "alpha") -> PostMortem:
    owner = "alice" if team == "alpha" else "carol"
    return postmortems.create_postmortem(
        session,
        portal=world.ctx,
        team=team_of(session, world, team),
        actor=person(session, world, owner),
        data=PostMortemIn(
            title="Checkout errors after deploy",
            severity="sev2",
            incident_started_at=CREATED - timedelta(days=2),
        ),
        now=CREATED,
    )


def add_item(
    session: Session,
    world: World,
    postmortem: PostMortem,
    *,
    owner: str = "bob",
    title: str = "Add a canary stage",
    deadline: str = DEADLINE,
    tracker_url: str | None = None,
) -> ActionItem:
    actor = "alice" if world.teams["alpha"].id == postmortem.team_id else "carol"
    return items.add_item(
        session,
        portal=world.ctx,
        postmortem=postmortem,
        actor=person(session, world, actor),
        data=ActionItemIn(
            title=title,
            owner_id=world.people[owner].id,
            deadline=deadline,
            tracker_url=tracker_url,
        ),
        now=CREATED,
    )


def item_state(ctx: PortalContext, item_id: int) -> ActionItem:
    with ctx.sessions() as session:
        return session.get_one(ActionItem, item_id)


def history(ctx: PortalContext, item_id: int) -> list[str]:
    with ctx.sessions() as session:
        query = select(ItemHistory.kind).where(ItemHistory.item_id == item_id)
        return list(session.scalars(query.order_by(ItemHistory.id)))


def event_names(ctx: PortalContext, prefix: str = "postmortems.action_item.") -> list[str]:
    with ctx.sessions() as session:
        query = select(StoredEvent.name).where(StoredEvent.name.startswith(prefix))
        return list(session.scalars(query.order_by(StoredEvent.id)))


def notifications(ctx: PortalContext) -> list[Notification]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def add_channels(world: World, receiver: SignedReceiver, team: str = "alpha") -> None:
    """An email channel (whose list the sweep replaces with the people concerned) and a
    signed webhook channel, pointed at the local receivers."""
    with session_scope(world.ctx.sessions) as session:
        found = team_of(session, world, team)
        channels.create_channel(
            session,
            team=found,
            kind="email",
            name="mail",
            settings=world.ctx.settings,
            actor=None,
            to=[f"{team}-list@example.com"],
        )
        created = channels.create_channel(
            session,
            team=found,
            kind="webhook",
            name="hook",
            settings=world.ctx.settings,
            actor=None,
            url=receiver.url + "/hook",
        )
    receiver.secret = created.secret


def add_member(world: World, who: str, team: str = "alpha", role: Role = Role.MEMBER) -> User:
    with session_scope(world.ctx.sessions) as session:
        user = users.create_user(
            session, email=f"{who}@example.com", name=who.title(), is_admin=False, actor=None
        )
        teams.add_member(
            session, team=team_of(session, world, team), user=user, role=role, actor=None
        )
        return user


def set_rules(world: World, team: str = "alpha", **changes: Any) -> None:
    with session_scope(world.ctx.sessions) as session:
        update_settings(
            session,
            team=team_of(session, world, team),
            actor=None,
            data=SettingsIn(**changes),
            now=CREATED,
        )


# -- the ladder ------------------------------------------------------------------------------


def test_each_step_is_taken_once_and_tells_the_people_it_concerns(
    pm_world: World, mail: MailServer, receiver: SignedReceiver
) -> None:
    ctx = pm_world.ctx
    erin = add_member(pm_world, "erin")
    set_rules(pm_world, team_lead_id=pm_world.people["alice"].id, escalation_contact_id=erin.id)
    add_channels(pm_world, receiver)
    with session_scope(ctx.sessions) as session:
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
    assert (item_state(ctx, item_id).next_step, item_state(ctx, item_id).next_action_at) == (
        REMIND,
        REMIND_AT,
    )

    assert escalation.sweep(ctx, at=REMIND_AT - timedelta(seconds=1)).taken == 0
    steps = [
        (REMIND_AT, REMIND, OVERDUE, OVERDUE_AT),
        (OVERDUE_AT, OVERDUE, ESCALATE, ESCALATE_AT),
        (ESCALATE_AT, ESCALATE, None, None),
    ]
    for at, taken, next_step, next_at in steps:
        result = escalation.sweep(ctx, at=at)
        assert (result.taken, result.item_ids) == (1, [item_id])
        assert {REMIND: result.reminded, OVERDUE: result.overdue, ESCALATE: result.escalated}[
            taken
        ] == 1
        # The same instant again, and an hour later: nothing more to take.
        assert escalation.sweep(ctx, at=at).taken == 0
        assert escalation.sweep(ctx, at=at + timedelta(hours=1)).taken == 0
        state = item_state(ctx, item_id)
        assert (state.next_step, state.next_action_at) == (next_step, next_at)
    state = item_state(ctx, item_id)
    # Stamped as of the sweep (its instant, plus the moments the run has taken so far).
    stamps = (state.reminded_at, state.overdue_at, state.escalated_at)
    for stamp, due in zip(stamps, (REMIND_AT, OVERDUE_AT, ESCALATE_AT), strict=True):
        assert stamp is not None and due <= stamp < due + timedelta(seconds=30)
    assert state.status == OPEN  # escalated is not a status: it waits for a decision
    assert escalation.sweep(ctx, at=ESCALATE_AT + timedelta(days=60)).taken == 0
    assert history(ctx, item_id) == ["created", "reminded", "overdue", "escalated"]
    assert event_names(ctx) == [events.REMINDED, events.OVERDUE, events.ESCALATED]

    # Two channels per step; the sender delivers them to the local receivers.
    assert len(notifications(ctx)) == 6
    deliver_due(ctx, at=ESCALATE_AT + timedelta(minutes=1))
    assert {n.status for n in notifications(ctx)} == {"sent"}
    # Email goes to the people each step concerns, not to the channel's list.
    assert [sorted(envelope.rcpt_tos) for envelope in mail.envelopes] == [
        ["bob@example.com"],
        ["alice@example.com", "bob@example.com"],
        ["erin@example.com"],
    ]
    subjects = [message["Subject"] for message in mail.messages]
    assert subjects[0].startswith("[opsyard] [INFO] Reminder for Bob:")
    assert "was due on 2026-03-13" in subjects[1]
    assert subjects[2].startswith("[opsyard] [ERROR] Escalated to Erin:")
    # The team's webhook hears every step, naming whom it concerns.
    posted = [payload["data"] for payload in receiver.verified]
    assert [(d["details"]["step"], d["details"]["to"]) for d in posted] == [
        ("remind", ["bob@example.com"]),
        ("overdue", ["bob@example.com", "alice@example.com"]),
        ("escalate", ["erin@example.com"]),
    ]
    assert posted[2]["details"]["url"].endswith(f"/t/alpha/postmortems/1#item-{item_id}")
    assert "For: Erin <erin@example.com>" in posted[2]["body"]


def test_without_a_lead_or_contact_the_team_owners_are_told(pm_world: World) -> None:
    ctx = pm_world.ctx
    dora = add_member(pm_world, "dora", role=Role.OWNER)
    with session_scope(ctx.sessions) as session:
        channels.create_channel(
            session,
            team=team_of(session, pm_world),
            kind="email",
            name="mail",
            settings=ctx.settings,
            actor=None,
            to=["alpha-list@example.com"],
        )
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
    escalation.sweep(ctx, at=OVERDUE_AT)
    escalation.sweep(ctx, at=ESCALATE_AT)
    assert [n.recipients for n in notifications(ctx)] == [
        ["bob@example.com", "alice@example.com", dora.email],
        ["alice@example.com", dora.email],
    ]
    assert history(ctx, item_id) == ["created", "overdue", "escalated"]


def test_after_downtime_only_the_latest_due_step_is_taken(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
    # The scheduler was down from before the reminder until after the deadline.
    result = escalation.sweep(ctx, at=OVERDUE_AT + timedelta(days=2))
    assert (result.reminded, result.overdue) == (0, 1)
    state = item_state(ctx, item_id)
    assert state.reminded_at is None
    assert state.overdue_at is not None and state.overdue_at >= OVERDUE_AT + timedelta(days=2)
    assert (state.next_step, state.next_action_at) == (ESCALATE, ESCALATE_AT)


def test_a_new_deadline_de_escalates_and_the_ladder_starts_again(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
    for at in (REMIND_AT, OVERDUE_AT, ESCALATE_AT):
        escalation.sweep(ctx, at=at)
    decided = ESCALATE_AT + timedelta(days=1, hours=9)
    with session_scope(ctx.sessions) as session:
        items.extend_deadline(
            session,
            item=session.get_one(ActionItem, item_id),
            actor=person(session, pm_world, "bob"),
            data=DeadlineExtensionIn(deadline="2026-04-24", reason="Waiting for the vendor"),
            now=decided,
        )
    state = item_state(ctx, item_id)
    assert (state.reminded_at, state.overdue_at, state.escalated_at) == (None, None, None)
    # The new deadline falls in the sprint of 13 to 26 April, which now ends the window.
    assert state.escalate_after == date(2026, 4, 26)
    assert (state.next_step, state.next_action_at) == (REMIND, start_of(date(2026, 4, 22)))
    assert escalation.sweep(ctx, at=decided + timedelta(days=7)).taken == 0
    for day, step in ((22, REMIND), (25, OVERDUE), (27, ESCALATE)):
        result = escalation.sweep(ctx, at=start_of(date(2026, 4, day)))
        assert result.taken == 1, step
        assert item_state(ctx, item_id).next_step != step
    assert history(ctx, item_id) == [
        "created",
        "reminded",
        "overdue",
        "escalated",
        "deadline_extended",
        "reminded",
        "overdue",
        "escalated",
    ]


def test_a_done_item_leaves_the_sweep(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        postmortem = add_postmortem(session, pm_world)
        done_id = add_item(session, pm_world, postmortem).id
        open_id = add_item(session, pm_world, postmortem, title="Page on error budget").id
    escalation.sweep(ctx, at=REMIND_AT)
    with session_scope(ctx.sessions) as session:
        items.complete_item(
            session,
            portal=ctx,
            item=session.get_one(ActionItem, done_id),
            actor=person(session, pm_world, "bob"),
            data=ItemDoneIn(evidence_note="Canary stage in the pipeline"),
            now=REMIND_AT + timedelta(hours=10),
        )
    assert item_state(ctx, done_id).next_action_at is None
    assert escalation.sweep(ctx, at=OVERDUE_AT).item_ids == [open_id]
    assert escalation.sweep(ctx, at=ESCALATE_AT).item_ids == [open_id]
    assert history(ctx, done_id) == ["created", "reminded", "done"]


def test_a_team_that_switched_the_plugin_off_is_not_swept(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        alpha_item = add_item(session, pm_world, add_postmortem(session, pm_world)).id
        beta_item = add_item(
            session, pm_world, add_postmortem(session, pm_world, "beta"), owner="carol"
        ).id
        teams.disable_plugin(
            session, team=team_of(session, pm_world, "beta"), plugin="postmortems", actor=None
        )
    assert escalation.sweep(ctx, at=REMIND_AT).item_ids == [alpha_item]
    beta = item_state(ctx, beta_item)
    assert (beta.next_step, beta.next_action_at, beta.reminded_at) == (REMIND, REMIND_AT, None)
    assert history(ctx, beta_item) == ["created"]
    # Switched back on, the team's due step is taken at the next run.
    with session_scope(ctx.sessions) as session:
        teams.enable_plugin(
            session, team=team_of(session, pm_world, "beta"), plugin="postmortems", actor=None
        )
    assert escalation.sweep(ctx, at=REMIND_AT + timedelta(minutes=5)).item_ids == [beta_item]


def test_an_item_that_fails_is_logged_and_the_others_are_still_taken(
    pm_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        postmortem = add_postmortem(session, pm_world)
        broken = add_item(session, pm_world, postmortem, title="Broken window").id
        healthy = add_item(session, pm_world, postmortem, title="Healthy").id
        # A window edited by hand to the last day of the calendar: the ladder cannot plan
        # the day after it.
        session.execute(
            update(ActionItem)
            .where(ActionItem.id == broken)
            .values(escalate_after=date.max, next_action_at=REMIND_AT - timedelta(days=1))
        )
    result = escalation.sweep(ctx, at=REMIND_AT)
    assert (result.failed, result.item_ids) == (1, [healthy])
    assert f"action item {broken} failed" in caplog.text
    still = item_state(ctx, broken)
    assert (still.next_step, still.next_action_at) == (REMIND, REMIND_AT - timedelta(days=1))
    assert history(ctx, broken) == ["created"]


# -- exactly once ----------------------------------------------------------------------------


def test_two_sweeps_at_once_take_each_step_once(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        created = []
        for team in ("alpha", "beta"):
            for _ in range(12):
                postmortem = add_postmortem(session, pm_world, team)
                owner = "bob" if team == "alpha" else "carol"
                created += [
                    add_item(session, pm_world, postmortem, owner=owner).id for _ in range(2)
                ]
    start = threading.Barrier(2)
    results: list[escalation.SweepResult] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(escalation.sweep(ctx, at=REMIND_AT, batch_size=5))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    taken = [item_id for result in results for item_id in result.item_ids]
    assert sorted(taken) == sorted(created)  # every step once, none twice
    with ctx.sessions() as session:
        reminded = session.scalar(
            select(func.count()).select_from(ItemHistory).where(ItemHistory.kind == "reminded")
        )
    assert reminded == len(created)
    assert event_names(ctx).count(events.REMINDED) == len(created)


def test_a_step_changed_under_the_sweep_is_not_taken_again(pm_world: World) -> None:
    """The compare-and-set: a sweep that read a row before another took its step loses."""
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
    with ctx.sessions() as session:
        [stale] = session.execute(escalation.due_query(now=REMIND_AT)).all()
    assert escalation.sweep(ctx, at=REMIND_AT).item_ids == [item_id]
    with session_scope(ctx.sessions) as session:
        item = session.get_one(ActionItem, item_id)
        won = escalation.compare_and_set(
            session,
            item,
            seen_step=stale.next_step,
            seen_at=stale.next_action_at,
            values={"reminded_at": REMIND_AT, "next_step": REMIND},
        )
    assert won is False
    assert history(ctx, item_id) == ["created", "reminded"]


def test_the_job_run_twice_takes_nothing_the_second_time(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        postmortem = add_postmortem(session, pm_world)
        ids = [add_item(session, pm_world, postmortem, title=f"Item {n}").id for n in (1, 2)]
    catalogue = load_catalogue(ctx.registry)
    job = catalogue.get("postmortems.escalation")
    assert job is not None and job.spec.interval_seconds == 300 and not job.spec.per_team
    for _ in range(2):
        run: JobRun = jobs.run_now(
            ctx, catalogue=catalogue, name=job.name, team=None, at=OVERDUE_AT, worker="test"
        )
        assert run.outcome == "succeeded", run.error_detail
    assert [history(ctx, item_id) for item_id in ids] == [["created", "overdue"]] * 2
    assert event_names(ctx) == [events.OVERDUE] * 2


# -- reading only what is due ---------------------------------------------------------------


def _bulk_items(session: Session, postmortem: PostMortem, owner: User, count: int) -> None:
    """`count` open items whose next step is a year away, inserted in one statement."""
    later = start_of(date(2027, 3, 1))
    rows = [
        {
            "postmortem_id": postmortem.id,
            "team_id": postmortem.team_id,
            "title": f"Later {n}",
            "description": "",
            "owner_id": owner.id,
            "deadline": date(2027, 3, 1),
            "created_sprint": "2026-03-02",
            "escalate_after": date(2027, 3, 14),
            "status": OPEN,
            "extensions_used": 0,
            "next_step": REMIND,
            "next_action_at": later + timedelta(minutes=n),
            "decision_needed": False,
            "created_at": CREATED,
            "updated_at": CREATED,
        }
        for n in range(count)
    ]
    session.execute(insert(ActionItem), rows)


def test_the_sweep_reads_only_due_rows_through_the_index(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        postmortem = add_postmortem(session, pm_world)
        due = [add_item(session, pm_world, postmortem, title=f"Due {n}").id for n in (1, 2, 3)]
        _bulk_items(session, postmortem, person(session, pm_world, "bob"), 3000)
    backend = ctx.engine.dialect.name
    if backend == "postgresql":
        with ctx.engine.connect() as connection:
            connection.execute(text("ANALYZE postmortems_action_items"))
            connection.commit()

    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM postmortems_action_items" in statement:
            statements.append((statement, parameters))

    event.listen(ctx.engine, "before_cursor_execute", capture)
    try:
        # The sweep's first query as the database receives it, while the three are still due.
        with ctx.sessions() as session:
            session.execute(escalation.due_query(now=REMIND_AT)).all()
        [(probe, parameters)] = statements
        plan = _plan(ctx, probe, parameters)
        statements.clear()
        result = escalation.sweep(ctx, at=REMIND_AT)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", capture)
    assert sorted(result.item_ids) == sorted(due)
    # Every read of the items table is the due query or a look-up of the ids it returned.
    due_reads = [statement for statement, _ in statements if "next_action_at <=" in statement]
    assert due_reads == [probe]  # one short batch: nothing more is due
    assert all(
        "next_action_at <=" in statement or ".id IN" in statement for statement, _ in statements
    ), statements

    # Its plan: a range scan of the index on next_action_at that reads the due rows only.
    if backend == "sqlite":
        assert (
            "SEARCH postmortems_action_items USING INDEX "
            "ix_postmortems_action_items_next_action_at (next_action_at<?)" in plan[0]
        ), plan
        assert not any("SCAN postmortems_action_items" in line for line in plan), plan
    else:
        nodes = list(_plan_nodes(plan[0]["Plan"]))
        scans = [n for n in nodes if n.get("Relation Name") == "postmortems_action_items"]
        assert scans and all(n["Node Type"] != "Seq Scan" for n in scans), nodes
        [index] = [n for n in nodes if n.get("Index Name", "").endswith("next_action_at")]
        assert index["Index Name"] == "ix_postmortems_action_items_next_action_at"
        assert index["Actual Rows"] == len(due), index


def _plan(ctx: PortalContext, statement: str, parameters: Any) -> list[Any]:
    """EXPLAIN `statement` with its parameters: SQLite's query plan lines, or PostgreSQL's
    plan as run (ANALYZE, rolled back) in JSON."""
    raw = ctx.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if ctx.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return [str(row[-1]) for row in cursor.fetchall()]
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        found: list[Any] = cursor.fetchone()[0]
        raw.rollback()
        return found
    finally:
        raw.close()


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_one_teams_steps_can_be_taken_in_the_callers_transaction(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        alpha_item = add_item(session, pm_world, add_postmortem(session, pm_world)).id
        beta_item = add_item(
            session, pm_world, add_postmortem(session, pm_world, "beta"), owner="carol"
        ).id
    with ctx.sessions() as session:
        result = escalation.take_due_steps(
            session, portal=ctx, team=team_of(session, pm_world), now=OVERDUE_AT
        )
        assert (result.overdue, result.item_ids) == (1, [alpha_item])
        session.rollback()  # the caller decides: nothing is kept
    assert history(ctx, alpha_item) == ["created"]
    with session_scope(ctx.sessions) as session:
        escalation.take_due_steps(
            session, portal=ctx, team=team_of(session, pm_world), now=OVERDUE_AT
        )
    assert history(ctx, alpha_item) == ["created", "overdue"]
    assert history(ctx, beta_item) == ["created"]


def test_a_due_row_whose_step_no_longer_applies_is_replanned_not_taken(pm_world: World) -> None:
    ctx = pm_world.ctx
    with session_scope(ctx.sessions) as session:
        item_id = add_item(session, pm_world, add_postmortem(session, pm_world)).id
        # Closed behind the plan's back (a restore, an edit by hand): the plan is stale.
        session.execute(update(ActionItem).where(ActionItem.id == item_id).values(status="done"))
    result = escalation.sweep(ctx, at=OVERDUE_AT)
    assert (result.taken, result.replanned) == (0, 1)
    state = item_state(ctx, item_id)
    assert (state.next_step, state.next_action_at) == (None, None)
    assert history(ctx, item_id) == ["created"]
    assert escalation.sweep(ctx, at=ESCALATE_AT).replanned == 0
