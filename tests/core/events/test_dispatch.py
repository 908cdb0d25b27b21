"""The core.events.dispatch job: in order, once, to handlers and to webhook subscriptions."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from opsyard.db.engine import session_scope
from opsyard.events.dispatch import dispatch_pending
from opsyard.events.models import StoredEvent
from opsyard.teams.models import Team
from opsyard.webhooks import service as webhooks
from tests.conftest import World
from tests.core.webhooks.helpers import deliveries, emit_notes, now, run_job


def _subscribe(world: World, team: str, event_types: list[str], *, enabled: bool = True) -> int:
    ctx = world.ctx
    with session_scope(ctx.sessions) as session:
        subscription, _ = webhooks.create_subscription(
            session,
            team=session.scalars(select(Team).where(Team.slug == team)).one(),
            url="http://127.0.0.1:9/hook",
            event_types=event_types,
            enabled=enabled,
            registry=ctx.registry,
            allow_private=True,
            actor=None,
        )
        return subscription.id


def test_events_are_handed_to_handlers_in_order_then_marked(
    world: World, received: dict[str, list[Any]]
) -> None:
    ids = emit_notes(world.ctx, count=3)
    at = now()
    run_job(world.ctx, "core.events.dispatch", at)
    handled = received["handle_event"]
    assert [e.id for e in handled] == ids
    assert handled[0].name == "fixture.note.created"
    assert handled[0].team_slug == "alpha"
    assert handled[0].payload == {"note_id": 0, "text": "note 0"}
    with world.session() as session:
        marked = [e.dispatched_at for e in session.scalars(select(StoredEvent))]
    # "Now" is the run's `at`, moving on with the real time the run takes.
    assert all(m is not None and at <= m < at + timedelta(seconds=30) for m in marked)
    run_job(world.ctx, "core.events.dispatch", at + timedelta(seconds=2))
    assert len(received["handle_event"]) == 3


def test_each_event_is_owed_to_every_matching_enabled_subscription(world: World) -> None:
    exact = _subscribe(world, "alpha", ["fixture.note.created"])
    everything = _subscribe(world, "alpha", ["*"])
    _subscribe(world, "alpha", ["fixture.note.created"], enabled=False)
    _subscribe(world, "beta", ["*"])
    emit_notes(world.ctx, count=2)
    run_job(world.ctx, "core.events.dispatch", now())
    owed = Counter(d.subscription_id for d in deliveries(world.ctx))
    assert owed == {exact: 2, everything: 2}


def test_two_workers_dispatch_each_event_once_and_in_order(
    world: World, received: dict[str, list[Any]]
) -> None:
    ctx = world.ctx
    subscription = _subscribe(world, "alpha", ["*"])
    ids = emit_notes(ctx, count=120)
    at = now()
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        start.wait()
        # Small batches so the two runs meet often.
        counts.append(dispatch_pending(ctx, at=at, batch_size=7))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whatever one run left, the next run picks up; nothing is dispatched twice.
    counts.append(dispatch_pending(ctx, at=at))
    assert sum(counts) == 120
    assert [e.id for e in received["handle_event"]] == ids
    owed = deliveries(ctx)
    assert len(owed) == 120
    assert {d.subscription_id for d in owed} == {subscription}
    assert len({d.event_id for d in owed}) == 120


def test_a_run_that_died_holding_a_lease_is_taken_over_after_it_expires(
    world: World, received: dict[str, list[Any]]
) -> None:
    from opsyard.events import dispatch

    ctx = world.ctx
    emit_notes(ctx, count=2)
    at = now()
    assert dispatch._lease(ctx, now=at, token="dead-worker", limit=10)
    # While the lease holds, other runs leave the events alone...
    assert dispatch_pending(ctx, at=at + timedelta(minutes=1)) == 0
    assert received["handle_event"] == []
    # ...and once it has expired, they are dispatched: late, but not lost.
    assert dispatch_pending(ctx, at=at + dispatch.LEASE + timedelta(seconds=1)) == 2
    assert len(received["handle_event"]) == 2
