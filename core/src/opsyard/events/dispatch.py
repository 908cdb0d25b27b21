"""The ``core.events.dispatch`` job: hands each stored event, in order, to every plugin's
``handle_event`` and owes it to each matching webhook subscription, then marks it dispatched.

One dispatcher works at a time, whatever the number of workers: a run leases the oldest
undispatched events all at once or not at all, and a run that finds the oldest one leased
leaves. That keeps handlers seeing events in order and each event dispatched once. Handlers
run outside any transaction (on SQLite a handler that writes would otherwise wait on our own
lock); a worker that dies between handing an event on and marking it leaves the lease to
expire, and the event is handed on again: at least once, never lost.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from opsyard.context import PortalContext
from opsyard.events.models import StoredEvent
from opsyard.events.service import to_event
from opsyard.extension import Event, JobContext
from opsyard.jobs.drain import drain
from opsyard.teams.models import Team
from opsyard.webhooks import service as webhooks
from opsyard.webhooks.models import WebhookSubscription

BATCH_SIZE = 100
LEASE = timedelta(minutes=5)
RUN_BUDGET_SECONDS = 60.0


def run(context: JobContext) -> None:
    """Job entry point."""
    dispatch_pending(context.portal, at=context.at)


def dispatch_pending(
    portal: PortalContext,
    *,
    at: datetime,
    batch_size: int = BATCH_SIZE,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> int:
    """Dispatch undispatched events as of `at`, oldest first; returns how many."""

    def batch(now: datetime) -> int | None:
        token = uuid.uuid4().hex
        ids = _lease(portal, now=now, token=token, limit=batch_size)
        if not ids:
            return None
        for event in _read(portal, ids):
            # call_each logs and skips a handler that raises; the others still get the event.
            for _ in portal.registry.call_each("handle_event", event=event, portal=portal):
                pass
        return _mark_dispatched(portal, ids, token=token, now=now)

    return drain(at=at, budget_seconds=budget_seconds, batch=batch)


def _lease(portal: PortalContext, *, now: datetime, token: str, limit: int) -> list[int]:
    """Lease the oldest `limit` undispatched events, or none when another run holds them."""
    with portal.sessions() as session:
        head = session.execute(
            select(StoredEvent.id, StoredEvent.claim_expires_at)
            .where(StoredEvent.dispatched_at.is_(None))
            .order_by(StoredEvent.id)
            .limit(limit)
        ).all()
        if not head or (head[0].claim_expires_at is not None and head[0].claim_expires_at > now):
            return []
        ids = [row.id for row in head]
        leased = session.execute(
            update(StoredEvent)
            .where(
                StoredEvent.id.in_(ids),
                StoredEvent.dispatched_at.is_(None),
                or_(StoredEvent.claim_expires_at.is_(None), StoredEvent.claim_expires_at <= now),
            )
            .values(claimed_by=token, claim_expires_at=now + LEASE)
            .returning(StoredEvent.id)
            .execution_options(synchronize_session=False)
        ).all()
        # All or nothing: taking only part would let two runs interleave and break the order.
        if len(leased) != len(ids):
            session.rollback()
            return []
        session.commit()
        return ids


def _read(portal: PortalContext, ids: list[int]) -> list[Event]:
    with portal.sessions() as session:
        rows = session.execute(
            select(StoredEvent, Team.slug)
            .join(Team, Team.id == StoredEvent.team_id)
            .where(StoredEvent.id.in_(ids))
            .order_by(StoredEvent.id)
        )
        return [to_event(row, team_slug=slug) for row, slug in rows]


def _mark_dispatched(portal: PortalContext, ids: list[int], *, token: str, now: datetime) -> int:
    """Mark the events still leased to this run as dispatched, and in the same transaction
    owe each to its subscriptions; a lease lost to another run leaves that event to it."""
    with portal.sessions() as session:
        marked = set(
            session.scalars(
                update(StoredEvent)
                .where(StoredEvent.id.in_(ids), StoredEvent.claimed_by == token)
                .values(dispatched_at=now, claimed_by=None, claim_expires_at=None)
                .returning(StoredEvent.id)
                .execution_options(synchronize_session=False)
            )
        )
        subscriptions: dict[int, list[WebhookSubscription]] = {}
        events = session.scalars(
            select(StoredEvent).where(StoredEvent.id.in_(sorted(marked))).order_by(StoredEvent.id)
        )
        for event in events:
            if event.team_id not in subscriptions:
                subscriptions[event.team_id] = webhooks.enabled_subscriptions(
                    session, team_id=event.team_id
                )
            webhooks.create_deliveries(
                session, event=event, subscriptions=subscriptions[event.team_id], now=now
            )
        session.commit()
        return len(marked)
