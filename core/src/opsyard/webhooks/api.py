"""/api/v1/teams/{team}/webhooks: outbound webhook subscriptions, for team owners.

Reading is for owners too: a receiver URL often carries a credential of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Query, Response, status

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.db.base import utcnow
from opsyard.events.models import StoredEvent
from opsyard.webhooks import service
from opsyard.webhooks.models import WebhookAttempt, WebhookDelivery
from opsyard.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/teams/{team}/webhooks", tags=["webhooks"])

StatusFilter = Literal["pending", "succeeded", "failed", "cancelled"]


def _delivery_out(
    delivery: WebhookDelivery, event: StoredEvent, attempts: Sequence[WebhookAttempt]
) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_id=event.uid,
        event_type=event.name,
        status=delivery.status,
        attempt_count=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        completed_at=delivery.completed_at,
        redelivery_of=delivery.redelivery_of_id,
        attempts=[AttemptOut.model_validate(a) for a in attempts],
    )


@router.get("", response_model=list[WebhookOut])
def list_webhooks(access: TeamOwner, session: DbSession) -> list[WebhookOut]:
    """The team's subscriptions. Secrets are never shown again."""
    found = service.list_subscriptions(session, team=access.team)
    return [WebhookOut.model_validate(s) for s in found]


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookCreate, access: TeamOwner, session: DbSession, ctx: Portal
) -> WebhookCreated:
    """Subscribe a URL to event types. The answer carries the signing secret, this once."""
    subscription, secret = service.create_subscription(
        session,
        team=access.team,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
        registry=ctx.registry,
        allow_private=ctx.settings.allow_private_targets,
        actor=access.user,
    )
    return WebhookCreated(**WebhookOut.model_validate(subscription).model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: int, access: TeamOwner, session: DbSession) -> WebhookOut:
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    return WebhookOut.model_validate(found)


@router.patch("/{webhook_id}", response_model=WebhookOut)
def update_webhook(
    webhook_id: int, body: WebhookUpdate, access: TeamOwner, session: DbSession, ctx: Portal
) -> WebhookOut:
    """Change the URL, event types, description, or switch it off and on."""
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    service.update_subscription(
        session,
        subscription=found,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
        registry=ctx.registry,
        allow_private=ctx.settings.allow_private_targets,
        now=utcnow(),
        actor=access.user,
    )
    return WebhookOut.model_validate(found)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: int, access: TeamOwner, session: DbSession) -> Response:
    """Delete the subscription and its delivery log."""
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    service.delete_subscription(session, subscription=found, actor=access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", response_model=SecretRotated)
def rotate_secret(
    webhook_id: int, access: TeamOwner, session: DbSession, ctx: Portal
) -> SecretRotated:
    """Issue a new secret. Messages are signed with both for the overlap window
    (OPSYARD_WEBHOOK_SECRET_OVERLAP_SECONDS), so receivers can switch at their own pace."""
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    secret = service.rotate_secret(
        session,
        subscription=found,
        now=utcnow(),
        overlap=ctx.settings.webhook_secret_overlap,
        actor=access.user,
    )
    return SecretRotated(secret=secret, previous_secret_expires_at=found.previous_secret_expires_at)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    webhook_id: int,
    access: TeamOwner,
    session: DbSession,
    delivery_status: StatusFilter | None = Query(default=None, alias="status"),
    before: int | None = Query(default=None, description="next_before of the previous page."),
    limit: int = Query(default=50, ge=1, le=200),
) -> DeliveryPage:
    """The delivery log, newest first, with every attempt's status code, duration and error."""
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    rows = service.list_deliveries(
        session, subscription=found, status=delivery_status, before=before, limit=limit
    )
    attempts = service.attempts_of(session, [d.id for d, _ in rows])
    return DeliveryPage(
        items=[_delivery_out(d, e, attempts[d.id]) for d, e in rows],
        next_before=rows[-1][0].id if len(rows) == limit else None,
    )


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(
    webhook_id: int, delivery_id: int, access: TeamOwner, session: DbSession
) -> DeliveryOut:
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    delivery, event = service.get_delivery(session, subscription=found, delivery_id=delivery_id)
    return _delivery_out(delivery, event, service.attempts_of(session, [delivery.id])[delivery.id])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def redeliver(
    webhook_id: int, delivery_id: int, access: TeamOwner, session: DbSession
) -> DeliveryOut:
    """Send the delivery's event again, as a new delivery due now with a fresh retry schedule."""
    found = service.get_subscription(session, team=access.team, subscription_id=webhook_id)
    delivery, event = service.get_delivery(session, subscription=found, delivery_id=delivery_id)
    again = service.redeliver(
        session, subscription=found, delivery=delivery, now=utcnow(), actor=access.user
    )
    return _delivery_out(again, event, [])
