"""The sender job: retries kept in the database, nothing lost, safe on several workers."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import inspect, select

from opsyard.db.engine import session_scope
from opsyard.notifications import sender, service
from opsyard.notifications.models import Channel, Notification
from opsyard.plugins import PluginRegistry
from opsyard.retry import NOTIFICATION_RETRIES
from tests.conftest import World
from tests.core.notifications.conftest import Providers
from tests.core.notifications.helpers import (
    ROUTING_KEY,
    T0,
    add_channel,
    notification,
    notifications,
    run_sender,
    team,
)
from tests.core.notifications.receivers import PagerDutyReceiver


def _notify(world: World, channel_id: int, summary: str = "Queue depth high") -> int:
    with session_scope(world.ctx.sessions) as session:
        [queued] = service.notify(
            session,
            team=team(session, world),
            summary=summary,
            severity="error",
            channels=[channel_id],
            at=T0,
        )
        return queued.id


def test_the_sender_is_a_scheduled_job_of_core(registry: PluginRegistry) -> None:
    jobs = dict(registry.call_each("scheduled_jobs"))["core.notifications"]
    [job] = [j for j in jobs if j.name == "core.notifications.send"]
    assert (job.interval_seconds, job.per_team, job.run) == (5, False, sender.run)
    # Core's built-in hooks declare the error codes too, so the catalogue knows them.
    assert registry.errors.codes["notifications.invalid_channel"].status == 422
    assert registry.errors.codes["oncall.unknown_timezone"].status == 422


def test_a_notification_is_written_in_the_callers_transaction_and_found_by_index(
    world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    with world.ctx.sessions() as session:
        service.notify(
            session, team=team(session, world), summary="x", severity="info", channels=[channel]
        )
        session.rollback()
    assert notifications(world.ctx) == []
    _notify(world, channel)
    assert [n.status for n in notifications(world.ctx)] == ["pending"]
    assert providers.slack.requests == []  # written now, sent by the job

    # The sender finds due rows through the index on next_attempt_at.
    indexes = {
        i["name"]: i["column_names"] for i in inspect(world.ctx.engine).get_indexes("notifications")
    }
    assert indexes["ix_notifications_next_attempt_at"] == ["next_attempt_at"]
    with world.ctx.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            due = select(Notification.id).where(Notification.next_attempt_at <= T0)
            compiled = due.compile(connection, compile_kwargs={"literal_binds": True})
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
            assert "ix_notifications_next_attempt_at" in str(plan)


def test_retries_back_off_then_give_up(world: World, providers: Providers) -> None:
    channel, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    attempts = NOTIFICATION_RETRIES.max_attempts
    providers.pagerduty.then(*[PagerDutyReceiver.server_error()] * attempts)
    sent = _notify(world, channel)

    at = T0
    for attempt in range(1, attempts + 1):
        # Not due yet: a run just before the retry time leaves it alone.
        run_sender(world.ctx, at - timedelta(milliseconds=1))
        assert notification(world.ctx, sent).attempts == attempt - 1
        run_sender(world.ctx, at)
        row = notification(world.ctx, sent)
        assert row.attempts == attempt and row.provider_status == 500
        if attempt < attempts:
            assert row.status == "pending" and row.next_attempt_at is not None
            delay = NOTIFICATION_RETRIES.delays[attempt - 1]
            spread = delay * NOTIFICATION_RETRIES.jitter
            assert at + delay - spread <= row.next_attempt_at <= at + delay + spread
            at = row.next_attempt_at
    assert (row.status, row.next_attempt_at) == ("failed", None)
    assert row.last_error is not None and row.last_error.startswith(f"Gave up after {attempts}")
    run_sender(world.ctx, at + timedelta(days=1))
    assert len(providers.pagerduty.requests) == attempts


def test_nothing_is_lost_while_a_provider_is_down(world: World, providers: Providers) -> None:
    channel, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    providers.pagerduty.stop()
    queued = [_notify(world, channel, summary=f"incident {i}") for i in range(5)]
    run_sender(world.ctx, T0)
    rows = [notification(world.ctx, n) for n in queued]
    assert {r.status for r in rows} == {"pending"}
    assert all("Connect" in (r.last_error or "") for r in rows)

    providers.pagerduty.start()
    later = max(r.next_attempt_at for r in rows if r.next_attempt_at is not None)
    run_sender(world.ctx, later)
    assert {notification(world.ctx, n).status for n in queued} == {"sent"}
    summaries = sorted(e["payload"]["summary"] for e in providers.pagerduty.events)
    assert summaries == [f"incident {i}" for i in range(5)]


def test_two_workers_at_once_send_each_notification_once(
    world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    queued = [_notify(world, channel, summary=f"n{i}") for i in range(12)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            sender.deliver_due(world.ctx, at=T0)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert {notification(world.ctx, n).status for n in queued} == {"sent"}
    texts = sorted(m["text"] for m in providers.slack.messages)
    assert texts == sorted(f"[ERROR] n{i}" for i in range(12))
    assert {notification(world.ctx, n).attempts for n in queued} == {1}


def test_a_worker_that_dies_mid_send_leaves_the_row_to_another(
    world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    sent = _notify(world, channel)
    claim = sender.claim_next(world.ctx, at=T0)  # claimed, then the worker vanishes
    assert claim is not None and claim.notification_id == sent
    run_sender(world.ctx, T0 + timedelta(seconds=30))
    assert notification(world.ctx, sent).status == "sending"  # still leased
    run_sender(world.ctx, T0 + sender.LEASE)
    row = notification(world.ctx, sent)
    assert (row.status, row.attempts) == ("sent", 2)
    # The dead worker's late result does not overwrite the newer one.
    sender.record(world.ctx, claim, sender.Outcome.refused("late"), at=T0 + sender.LEASE)
    assert notification(world.ctx, sent).status == "sent"


def test_a_resolve_never_overtakes_its_trigger(world: World, providers: Providers) -> None:
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    providers.pagerduty.then(PagerDutyReceiver.server_error())
    with session_scope(world.ctx.sessions) as session:
        service.page_oncall(
            session,
            team=team(session, world),
            summary="API down",
            severity="critical",
            dedup_key="api-down",
            at=T0,
        )
    run_sender(world.ctx, T0)  # the trigger fails and waits for its retry
    with session_scope(world.ctx.sessions) as session:
        service.page_oncall(
            session,
            team=team(session, world),
            summary="API down",
            severity="critical",
            dedup_key="api-down",
            action="resolve",
            at=T0 + timedelta(seconds=1),
        )
    run_sender(world.ctx, T0 + timedelta(seconds=1))
    assert [e["event_action"] for e in providers.pagerduty.events] == ["trigger"]

    run_sender(world.ctx, T0 + timedelta(minutes=1))
    actions = [e["event_action"] for e in providers.pagerduty.events]
    assert actions == ["trigger", "trigger", "resolve"]
    assert providers.pagerduty.incidents == {(ROUTING_KEY, "api-down"): "resolved"}


def test_a_channel_gone_before_sending_fails_with_the_reason(
    world: World, providers: Providers
) -> None:
    for change, reason in (("disabled", "switched off"), ("deleted", "deleted")):
        channel, _ = add_channel(
            world, kind="slack", name=change, webhook_url=providers.slack.hook_url
        )
        sent = _notify(world, channel)
        with session_scope(world.ctx.sessions) as session:
            stored = session.get_one(Channel, channel)
            if change == "deleted":
                session.delete(stored)
            else:
                stored.enabled = False
        run_sender(world.ctx, T0)
        row = notification(world.ctx, sent)
        assert row.status == "failed" and reason in (row.last_error or "")
    assert providers.slack.requests == []
