"""Managing subscriptions and the deliveries owed to them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opsyard import errors, secret_rotation
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.events.models import StoredEvent
from opsyard.net import check_target
from opsyard.plugins import PluginRegistry
from opsyard.teams.models import Team
from opsyard.teams.owned import get_team_row
from opsyard.webhooks import signing
from opsyard.webhooks.errors import SUBSCRIPTION_DISABLED
from opsyard.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

ALL_EVENTS = "*"


def check_event_types(registry: PluginRegistry, event_types: Sequence[str]) -> list[str]:
    """The subscribed names, de-duplicated; raises unless each is a declared type or "*"."""
    if not event_types:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "Subscribe to at least one event type.",
            fields=[FieldProblem("/event_types", 'List event type names, or "*" for all.')],
        )
    unknown = [
        FieldProblem(f"/event_types/{i}", f"{name!r} is not a declared event type.")
        for i, name in enumerate(event_types)
        if name != ALL_EVENTS and name not in registry.event_types
    ]
    if unknown:
        raise OpsyardError(errors.VALIDATION_FAILED, "Unknown event types.", fields=unknown)
    return sorted(set(event_types))


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise unless `url` is one the sender can use and the target guard allows."""
    try:
        httpx.URL(url)
        check_target(url, allow_private=allow_private)
    # urllib raises ValueError on some malformed hosts ("http://[::1/") before the guard can
    # answer; either way the URL is unusable.
    except (httpx.InvalidURL, ValueError) as exc:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{url!r} is not a valid URL: {exc}.",
            fields=[FieldProblem("/url", "Give a full URL such as https://example.com/hook.")],
        ) from exc


def create_subscription(
    session: Session,
    *,
    team: Team,
    url: str,
    event_types: Sequence[str],
    description: str = "",
    enabled: bool = True,
    registry: PluginRegistry,
    allow_private: bool,
    actor: User | None,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it with its secret, which is shown this once."""
    check_url(url, allow_private=allow_private)
    secret = signing.new_secret()
    subscription = WebhookSubscription(
        team_id=team.id,
        url=url,
        description=description,
        event_types=check_event_types(registry, event_types),
        enabled=enabled,
        secret=secret,
        created_by_id=actor.id if actor else None,
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.created",
        target=url,
        team_id=team.id,
        detail={"id": subscription.id, "event_types": subscription.event_types},
    )
    return subscription, secret


def list_subscriptions(session: Session, *, team: Team) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.team_id == team.id)
    return list(session.scalars(query.order_by(WebhookSubscription.id)))


def get_subscription(session: Session, *, team: Team, subscription_id: int) -> WebhookSubscription:
    """The team's subscription; another team's looks as if it did not exist."""
    return get_team_row(
        session, WebhookSubscription, subscription_id, team=team, what="webhook subscription"
    )


def update_subscription(
    session: Session,
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    registry: PluginRegistry,
    allow_private: bool,
    now: datetime,
    actor: User | None,
) -> WebhookSubscription:
    """Change what was given; re-enabling clears the reason it was disabled."""
    changed: dict[str, object] = {}
    if url is not None and url != subscription.url:
        check_url(url, allow_private=allow_private)
        subscription.url = changed["url"] = url
    if event_types is not None:
        subscription.event_types = changed["event_types"] = check_event_types(registry, event_types)
    if description is not None:
        subscription.description = changed["description"] = description
    if enabled is not None and enabled != subscription.enabled:
        changed["enabled"] = enabled
        if enabled:
            subscription.enabled = True
            subscription.disabled_reason = subscription.disabled_at = None
        else:
            disable_subscription(
                session, subscription=subscription, reason="Disabled by a team owner.", now=now
            )
    audit.record(
        session,
        actor=actor,
        action="webhook.updated",
        target=subscription.url,
        team_id=subscription.team_id,
        detail={"id": subscription.id, **changed},
    )
    return subscription


def delete_subscription(
    session: Session, *, subscription: WebhookSubscription, actor: User | None
) -> None:
    """Delete a subscription with its delivery log."""
    audit.record(
        session,
        actor=actor,
        action="webhook.deleted",
        target=subscription.url,
        team_id=subscription.team_id,
        detail={"id": subscription.id},
    )
    session.delete(subscription)


def rotate_secret(
    session: Session,
    *,
    subscription: WebhookSubscription,
    now: datetime,
    overlap: timedelta,
    actor: User | None,
) -> str:
    """Replace the secret; the old one keeps signing beside the new one for `overlap`, so
    receivers can switch without dropping a message. Returns the new secret, shown once."""
    secret = signing.new_secret()
    secret_rotation.rotate(subscription, new_secret=secret, now=now, overlap=overlap)
    audit.record(
        session,
        actor=actor,
        action="webhook.secret_rotated",
        target=subscription.url,
        team_id=subscription.team_id,
        detail={"id": subscription.id, "overlap_seconds": int(overlap.total_seconds())},
    )
    return secret


def signing_secrets(subscription: WebhookSubscription, *, now: datetime) -> list[str]:
    """The secrets a message is signed with right now: the current one, and the previous one
    while the rotation overlap lasts."""
    return secret_rotation.secrets_in_use(subscription, now=now)


def disable_subscription(
    session: Session, *, subscription: WebhookSubscription, reason: str, now: datetime
) -> None:
    """Stop sending to the subscription, and cancel what still waits for an attempt."""
    subscription.enabled = False
    subscription.disabled_reason = reason[:500]
    subscription.disabled_at = now
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )


def matches(subscription: WebhookSubscription, event_name: str) -> bool:
    return ALL_EVENTS in subscription.event_types or event_name in subscription.event_types


def enabled_subscriptions(session: Session, *, team_id: int) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(
        WebhookSubscription.team_id == team_id, WebhookSubscription.enabled.is_(True)
    )
    return list(session.scalars(query.order_by(WebhookSubscription.id)))


def create_deliveries(
    session: Session,
    *,
    event: StoredEvent,
    subscriptions: Iterable[WebhookSubscription],
    now: datetime,
) -> int:
    """Owe `event` to every subscription that wants it, due at once; returns how many."""
    count = 0
    for subscription in subscriptions:
        if subscription.enabled and matches(subscription, event.name):
            session.add(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=event.id,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            count += 1
    return count


def list_deliveries(
    session: Session,
    *,
    subscription: WebhookSubscription,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[tuple[WebhookDelivery, StoredEvent]]:
    """The subscription's delivery log, newest first, with each delivery's event."""
    query = (
        select(WebhookDelivery, StoredEvent)
        .join(StoredEvent, StoredEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription.id)
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [(delivery, event) for delivery, event in rows]


def get_delivery(
    session: Session, *, subscription: WebhookSubscription, delivery_id: int
) -> tuple[WebhookDelivery, StoredEvent]:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise OpsyardError(errors.NOT_FOUND, f"No delivery {delivery_id} for this subscription.")
    event = session.get(StoredEvent, delivery.event_id)
    assert event is not None  # the foreign key cascades, so a delivery always has its event
    return delivery, event


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    """Every attempt of the given deliveries, oldest first, by delivery id."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        query = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        )
        for attempt in session.scalars(query):
            found[attempt.delivery_id].append(attempt)
    return found


def redeliver(
    session: Session,
    *,
    subscription: WebhookSubscription,
    delivery: WebhookDelivery,
    now: datetime,
    actor: User | None,
) -> WebhookDelivery:
    """Owe the delivery's event to the subscription once more, with a fresh retry schedule.

    A new delivery is made rather than the old one reset, so the log keeps what happened to
    each; both carry the same ``webhook-id``, so receivers can tell it is the same message.
    """
    if not subscription.enabled:
        raise OpsyardError(SUBSCRIPTION_DISABLED)
    again = WebhookDelivery(
        subscription_id=subscription.id,
        event_id=delivery.event_id,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        redelivery_of_id=delivery.id,
    )
    session.add(again)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.redelivered",
        target=subscription.url,
        team_id=subscription.team_id,
        detail={"delivery": delivery.id, "new_delivery": again.id},
    )
    return again
