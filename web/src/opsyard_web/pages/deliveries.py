"""An outbound webhook's delivery log (team owners, like the API), with redelivery.

Each row shows the receiver's last answer, how long it took and the error; a finished
delivery has a Redeliver button whose row replaces itself with the new delivery (due now)
above the old one, now marked as redelivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opsyard.api.deps import DbSession, TeamOwner
from opsyard.db.base import utcnow
from opsyard.events.models import StoredEvent
from opsyard.webhooks import service as webhooks
from opsyard.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from opsyard_web.htmx import is_htmx
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/integrations/webhooks/{subscription_id}")

SHOWN = 50
STATUSES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SUCCEEDED,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
)


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    event_type: str
    event_id: str
    status: str
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    next_attempt_at: datetime | None
    redelivery_of: int | None
    attempts: list[WebhookAttempt] = field(default_factory=list)
    redelivered_as: int | None = None

    @property
    def last_duration_ms(self) -> int | None:
        return self.attempts[-1].duration_ms if self.attempts else None

    @property
    def can_redeliver(self) -> bool:
        # A pending delivery is still being tried; a second copy would arrive twice.
        return self.status != DeliveryStatus.PENDING and self.redelivered_as is None


def delivery_row(
    delivery: WebhookDelivery,
    event: StoredEvent,
    attempts: Sequence[WebhookAttempt],
    redelivered_as: int | None = None,
) -> DeliveryRow:
    return DeliveryRow(
        id=delivery.id,
        event_type=event.name,
        event_id=event.uid,
        status=delivery.status,
        attempt_count=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        completed_at=delivery.completed_at,
        next_attempt_at=delivery.next_attempt_at,
        redelivery_of=delivery.redelivery_of_id,
        attempts=list(attempts),
        redelivered_as=redelivered_as,
    )


@router.get("")
def deliveries_page(
    request: Request,
    subscription_id: int,
    access: TeamOwner,
    session: DbSession,
    status: Annotated[str | None, Query()] = None,
    before: Annotated[int | None, Query()] = None,
) -> Response:
    subscription = webhooks.get_subscription(
        session, team=access.team, subscription_id=subscription_id
    )
    shown_status = status if status in STATUSES else None
    found = webhooks.list_deliveries(
        session, subscription=subscription, status=shown_status, before=before, limit=SHOWN
    )
    attempts = webhooks.attempts_of(session, [delivery.id for delivery, _ in found])
    # Redeliveries are newer, so a redelivered row's successor is usually on the same page.
    successors = {
        delivery.redelivery_of_id: delivery.id
        for delivery, _ in found
        if delivery.redelivery_of_id is not None
    }
    rows = [
        delivery_row(delivery, event, attempts[delivery.id], successors.get(delivery.id))
        for delivery, event in found
    ]
    context: dict[str, Any] = {
        "subscription": subscription,
        "rows": rows,
        "statuses": STATUSES,
        "status": shown_status,
        "older": rows[-1].id if len(rows) == SHOWN else None,
        "before": before,
    }
    return render(request, "webhook_deliveries.html", context, session=session)


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(
    request: Request,
    subscription_id: int,
    delivery_id: int,
    access: TeamOwner,
    session: DbSession,
) -> Response:
    subscription = webhooks.get_subscription(
        session, team=access.team, subscription_id=subscription_id
    )
    delivery, event = webhooks.get_delivery(
        session, subscription=subscription, delivery_id=delivery_id
    )
    again = webhooks.redeliver(
        session, subscription=subscription, delivery=delivery, now=utcnow(), actor=access.user
    )
    if not is_htmx(request):
        page = f"/t/{access.team.slug}/integrations/webhooks/{subscription.id}"
        return RedirectResponse(page, status_code=303)
    old_attempts = webhooks.attempts_of(session, [delivery.id])[delivery.id]
    context = {
        "subscription": subscription,
        "rows": [
            delivery_row(again, event, []),
            delivery_row(delivery, event, old_attempts, redelivered_as=again.id),
        ],
    }
    return render(request, "partials/delivery_rows.html", context, session=session)
