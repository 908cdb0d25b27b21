"""Inbound integrations (team owners): an endpoint other tools call, with its own secret.

Each form answers with the inbound section of the integrations page. The URL is shown with
a copy button always; the secret only in the answer to a creation or a rotation. What an
integration received is on its own page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.db.base import utcnow
from opsyard.inbound import service as inbound
from opsyard_web.forms import FormState
from opsyard_web.pages import inputs
from opsyard_web.pages.integrations import (
    PROVIDER_SETUP,
    PROVIDERS,
    Revealed,
    apply,
    integration_label,
    provider_label,
)
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/integrations/inbound")

BLOCK = "inbound"
FORM = "inbound_form"
SHOWN = 50


@router.post("")
def create_integration(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    provider: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    values = {"provider": provider, "name": name}

    def change() -> dict[str, Any]:
        if provider not in PROVIDERS:
            raise inputs.invalid(
                "provider", f"{provider!r} is not a sender opsyard knows.", "Pick a sender."
            )
        integration, secret = inbound.create_integration(
            session,
            team=access.team,
            provider=provider,
            name=inputs.text(name, name="name", label="Name", max_length=200, required=False),
            actor=access.user,
        )
        label = integration_label(integration)
        return {
            "inbound_secret": Revealed(
                title=f"Integration “{label}” is ready.",
                secret=secret,
                field_id=f"inbound-secret-{integration.public_id}",
                hint=PROVIDER_SETUP[provider],
                url=inbound.hook_url(portal.settings.base_url, integration),
            )
        }

    return apply(
        request, session, portal, access, block=BLOCK, form_key=FORM, change=change, values=values
    )


@router.post("/{public_id}/enabled")
def switch_integration(
    request: Request,
    public_id: str,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    def change() -> dict[str, Any]:
        found = inbound.get_integration(session, team=access.team, public_id=public_id)
        turned_on = inputs.flag(enabled)
        inbound.update_integration(session, integration=found, enabled=turned_on, actor=access.user)
        label = integration_label(found)
        state = "on" if turned_on else "off: its URL answers 404 until switched on"
        return {FORM: _blank(f"“{label}” is {state}.")}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{public_id}/rotate-secret")
def rotate_integration_secret(
    request: Request, public_id: str, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        found = inbound.get_integration(session, team=access.team, public_id=public_id)
        overlap = portal.settings.webhook_secret_overlap
        secret = inbound.rotate_secret(
            session, integration=found, now=utcnow(), overlap=overlap, actor=access.user
        )
        hint = PROVIDER_SETUP.get(found.provider, "")
        if found.previous_secret_expires_at is not None:
            until = found.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            hint = f"The old secret is accepted too until {until}. {hint}"
        label = integration_label(found)
        return {
            "inbound_secret": Revealed(
                title=f"“{label}” has a new secret.",
                secret=secret,
                field_id=f"inbound-secret-{found.public_id}",
                hint=hint,
                url=inbound.hook_url(portal.settings.base_url, found),
            )
        }

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{public_id}/delete")
def delete_integration(
    request: Request, public_id: str, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        found = inbound.get_integration(session, team=access.team, public_id=public_id)
        label = integration_label(found)
        inbound.delete_integration(session, integration=found, actor=access.user)
        return {FORM: _blank(f"“{label}” is deleted; its URL answers 404 from now on.")}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.get("/{public_id}")
def received_page(
    request: Request,
    public_id: str,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    before: Annotated[int | None, Query()] = None,
) -> Response:
    """What the integration received, newest first, and which plugins acted on each."""
    found = inbound.get_integration(session, team=access.team, public_id=public_id)
    received = inbound.list_received(session, integration=found, before=before, limit=SHOWN)
    context = {
        "integration": found,
        "label": integration_label(found),
        "provider_label": provider_label(found.provider),
        "url": inbound.hook_url(portal.settings.base_url, found),
        "received": received,
        "older": received[-1].id if len(received) == SHOWN else None,
        "before": before,
    }
    return render(request, "inbound_received.html", context, session=session)


def _blank(done: str) -> FormState:
    return FormState(values={"provider": "github"}, done=done)
