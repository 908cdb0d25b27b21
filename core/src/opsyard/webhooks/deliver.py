"""The ``core.webhooks.deliver`` job: sends what is due, records every attempt, and schedules
the next one from the retry schedule kept in the database.

Safe on several workers at once: a worker takes due rows in one conditional UPDATE (with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that pushes them forward by a lease, so no two
workers send the same delivery, and a worker that dies leaves its rows due again.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.context import PortalContext
from opsyard.db.claims import claim_due
from opsyard.events.models import StoredEvent
from opsyard.extension import JobContext
from opsyard.net import http_client
from opsyard.retry import WEBHOOK_RETRIES
from opsyard.webhooks import service, signing
from opsyard.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from opsyard.webhooks.sender import SendResult, send

BATCH_SIZE = 100
# Longer than a whole batch can take (batch / concurrency x timeout, in the worst case).
LEASE = timedelta(minutes=10)
# A run drains what is due but hands the worker back after this long; the next run goes on.
RUN_BUDGET_SECONDS = 60.0


@dataclass(frozen=True)
class Outgoing:
    """Everything needed to send one delivery, read before any request goes out."""

    delivery_id: int
    subscription_id: int
    number: int
    enabled: bool
    url: str
    msg_id: str
    body: str
    secrets_in_use: tuple[str, ...]


@dataclass(frozen=True)
class Sent:
    outgoing: Outgoing
    at: datetime
    # None when nothing was sent because the subscription was disabled meanwhile.
    result: SendResult | None


@dataclass
class DeliveryRun:
    """What one run did, for logs, tests and the benchmark."""

    attempted: int = 0
    succeeded: int = 0


def run(context: JobContext) -> None:
    """Job entry point."""
    deliver_due(context.portal, at=context.at)


def deliver_due(
    portal: PortalContext,
    *,
    at: datetime,
    budget_seconds: float = RUN_BUDGET_SECONDS,
    batch_size: int = BATCH_SIZE,
) -> DeliveryRun:
    """Send every delivery due as of `at`, batch by batch, until none is left or the budget
    is spent."""
    started = time.monotonic()

    # `at` is "now" when the run starts (so `jobs run --at` can replay time); the clock moves
    # on from there as the run takes real time.
    def clock() -> datetime:
        return at + timedelta(seconds=time.monotonic() - started)

    settings = portal.settings
    timeout = httpx.Timeout(
        settings.webhook_timeout_seconds, connect=min(5.0, settings.webhook_timeout_seconds)
    )
    outcome = DeliveryRun()
    token = uuid.uuid4().hex
    with (
        http_client(timeout=timeout) as client,
        ThreadPoolExecutor(settings.webhook_concurrency, "webhook-send") as pool,
    ):

        def attempt(outgoing: Outgoing) -> Sent:
            now = clock()
            if not outgoing.enabled:
                return Sent(outgoing, now, None)
            # The signed timestamp is the wall clock, not `at`: receivers hold it against
            # their own clock to refuse replays.
            headers = signing.headers(
                secrets_in_use=outgoing.secrets_in_use,
                msg_id=outgoing.msg_id,
                timestamp=datetime.now(UTC),
                body=outgoing.body,
            )
            result = send(
                client,
                url=outgoing.url,
                body=outgoing.body,
                headers=headers,
                allow_private=settings.allow_private_targets,
            )
            return Sent(outgoing, now, result)

        def start_next_batch() -> list[Future[Sent]]:
            if time.monotonic() - started >= budget_seconds:
                return []
            batch = _claim(portal, now=clock(), token=token, limit=batch_size)
            return [pool.submit(attempt, outgoing) for outgoing in batch]

        # The next batch is already on the wire while this one is recorded, so the senders
        # do not sit idle waiting on the database.
        in_flight = start_next_batch()
        while in_flight:
            following = start_next_batch()
            results = [future.result() for future in in_flight]
            _record(portal, results, token=token)
            outcome.attempted += sum(1 for r in results if r.result is not None)
            outcome.succeeded += sum(1 for r in results if r.result and r.result.succeeded)
            in_flight = following
    return outcome


def _claim(portal: PortalContext, *, now: datetime, token: str, limit: int) -> list[Outgoing]:
    """Take up to `limit` due deliveries for this run and read what sending them needs."""
    with portal.sessions() as session:
        claimed = claim_due(
            session,
            WebhookDelivery,
            now=now,
            lease=LEASE,
            token=token,
            limit=limit,
            where=[WebhookDelivery.status == DeliveryStatus.PENDING],
        )
        if not claimed:
            return []
        return _read(session, claimed, now=now)


def _read(session: Session, ids: list[int], *, now: datetime) -> list[Outgoing]:
    rows = session.execute(
        select(WebhookDelivery, WebhookSubscription, StoredEvent)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(StoredEvent, StoredEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    bodies: dict[int, str] = {}
    batch = []
    for delivery, subscription, event in rows:
        if event.id not in bodies:
            bodies[event.id] = signing.message_body(
                event_type=event.name, occurred_at=event.occurred_at, data=event.payload
            )
        batch.append(
            Outgoing(
                delivery_id=delivery.id,
                subscription_id=subscription.id,
                number=delivery.attempts + 1,
                enabled=subscription.enabled,
                url=subscription.url,
                msg_id=event.uid,
                body=bodies[event.id],
                secrets_in_use=tuple(service.signing_secrets(subscription, now=now)),
            )
        )
    return batch


def _record(portal: PortalContext, results: list[Sent], *, token: str) -> None:
    """Write each attempt and move each delivery on: done, retried later, or given up."""
    with portal.sessions() as session:
        ids = [r.outgoing.delivery_id for r in results]
        deliveries = {
            d.id: d
            for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        }
        gone: dict[int, datetime] = {}
        for sent in results:
            delivery = deliveries.get(sent.outgoing.delivery_id)
            if delivery is None:  # its subscription was deleted meanwhile
                continue
            _apply(session, delivery, sent, token=token, gone=gone)
        session.flush()
        # After the loop: disabling cancels the subscription's other pending deliveries in
        # one statement, which must not be overwritten by the changes made above.
        for subscription_id, at in gone.items():
            subscription = session.get(WebhookSubscription, subscription_id)
            if subscription is not None and subscription.enabled:
                reason = f"The receiver answered 410 Gone at {at:%Y-%m-%d %H:%M:%S} UTC."
                service.disable_subscription(
                    session, subscription=subscription, reason=reason, now=at
                )
                audit.record(
                    session,
                    actor=None,
                    action="webhook.disabled",
                    target=subscription.url,
                    team_id=subscription.team_id,
                    detail={"id": subscription.id, "reason": reason},
                )
        session.commit()


def _apply(
    session: Session,
    delivery: WebhookDelivery,
    sent: Sent,
    *,
    token: str,
    gone: dict[int, datetime],
) -> None:
    mine = delivery.claimed_by == token
    result = sent.result
    if result is None:
        if mine:
            _finish(delivery, DeliveryStatus.CANCELLED, at=None)
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=sent.outgoing.number,
            at=sent.at,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
        )
    )
    if not mine:
        # The lease ran out and another worker took the row; its state is theirs to set.
        return
    delivery.attempts = sent.outgoing.number
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    if result.succeeded:
        _finish(delivery, DeliveryStatus.SUCCEEDED, at=sent.at)
    elif result.status_code == 410:
        _finish(delivery, DeliveryStatus.FAILED, at=sent.at)
        gone.setdefault(sent.outgoing.subscription_id, sent.at)
    else:
        _retry_or_give_up(delivery, at=sent.at)


def _retry_or_give_up(delivery: WebhookDelivery, *, at: datetime) -> None:
    following = WEBHOOK_RETRIES.next_attempt(attempts_made=delivery.attempts, now=at)
    if following is None:
        _finish(delivery, DeliveryStatus.FAILED, at=at)
    else:
        delivery.next_attempt_at = following
        delivery.claimed_by = None


def _finish(delivery: WebhookDelivery, status: str, *, at: datetime | None) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.claimed_by = None
    delivery.completed_at = at
