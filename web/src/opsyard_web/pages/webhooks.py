"""Outbound webhook subscriptions (team owners): create, switch, rotate the secret, delete.

Each form answers with the webhooks section of the integrations page; the signing secret is
in the answer to a creation or a rotation only. The delivery log is deliveries.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.db.base import utcnow
from opsyard.webhooks import service as webhooks
from opsyard_web.forms import FormState
from opsyard_web.pages import inputs
from opsyard_web.pages.integrations import Revealed, apply

router = APIRouter(prefix="/t/{team}/integrations/webhooks")

BLOCK = "webhooks"
FORM = "webhook_form"
SIGNING_HINT = (
    "Receivers verify each request's webhook-signature with it, as the Standard Webhooks "
    "libraries do."
)


@router.post("")
def create_webhook(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    chosen = list(event_types or [])
    values = {"url": url, "description": description}

    def change() -> dict[str, Any]:
        subscription, secret = webhooks.create_subscription(
            session,
            team=access.team,
            url=inputs.text(url, name="url", label="URL", max_length=2000),
            event_types=chosen,
            description=inputs.text(
                description, name="description", label="Description", max_length=500, required=False
            ),
            registry=portal.registry,
            allow_private=portal.settings.allow_private_targets,
            actor=access.user,
        )
        return {
            "webhook_secret": Revealed(
                title=f"Webhook to {subscription.url} is added.",
                secret=secret,
                field_id=f"webhook-secret-{subscription.id}",
                hint=SIGNING_HINT,
            )
        }

    return apply(
        request,
        session,
        portal,
        access,
        block=BLOCK,
        form_key=FORM,
        change=change,
        values=values,
        kept={"webhook_events": chosen},
    )


@router.post("/{subscription_id}/enabled")
def switch_webhook(
    request: Request,
    subscription_id: int,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    def change() -> dict[str, Any]:
        found = webhooks.get_subscription(
            session, team=access.team, subscription_id=subscription_id
        )
        turned_on = inputs.flag(enabled)
        webhooks.update_subscription(
            session,
            subscription=found,
            enabled=turned_on,
            registry=portal.registry,
            allow_private=portal.settings.allow_private_targets,
            now=utcnow(),
            actor=access.user,
        )
        if turned_on:
            done = f"The webhook to {found.url} is on again."
        else:
            done = f"The webhook to {found.url} is off; deliveries still waiting are cancelled."
        return {FORM: FormState(done=done)}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{subscription_id}/rotate-secret")
def rotate_webhook_secret(
    request: Request, subscription_id: int, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        found = webhooks.get_subscription(
            session, team=access.team, subscription_id=subscription_id
        )
        overlap = portal.settings.webhook_secret_overlap
        secret = webhooks.rotate_secret(
            session, subscription=found, now=utcnow(), overlap=overlap, actor=access.user
        )
        hint = SIGNING_HINT
        if found.previous_secret_expires_at is not None:
            until = found.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            hint = f"Messages are signed with the old secret too until {until}. " + hint
        return {
            "webhook_secret": Revealed(
                title=f"The webhook to {found.url} has a new secret.",
                secret=secret,
                field_id=f"webhook-secret-{found.id}",
                hint=hint,
            )
        }

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{subscription_id}/delete")
def delete_webhook(
    request: Request, subscription_id: int, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        found = webhooks.get_subscription(
            session, team=access.team, subscription_id=subscription_id
        )
        url = found.url
        webhooks.delete_subscription(session, subscription=found, actor=access.user)
        return {FORM: FormState(done=f"The webhook to {url} and its delivery log are deleted.")}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)
