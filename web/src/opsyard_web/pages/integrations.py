"""A team's integrations page: notification channels, outbound webhook subscriptions and
inbound integrations, one section each.

Every team member sees the channels; only owners see webhooks and inbound integrations, as
in the API, because their URLs and logs can carry credentials. Changes live in channels.py,
webhooks.py and inbound.py; each answers with its own section (``{% block channels %}``,
``webhooks``, ``inbound``), which replaces itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamContext
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.inbound import service as inbound
from opsyard.inbound.models import InboundIntegration
from opsyard.notifications import channels as channel_service
from opsyard.roles import Role
from opsyard.webhooks import service as webhooks
from opsyard_web.forms import FormState
from opsyard_web.rendering import render

router = APIRouter()

TEMPLATE = "integrations.html"

CHANNEL_KINDS = {
    "slack": "Slack",
    "pagerduty": "PagerDuty",
    "webhook": "Webhook",
    "email": "Email",
}
PROVIDERS = {
    "github": "GitHub",
    "alertmanager": "Prometheus Alertmanager",
    "standard": "Standard Webhooks sender",
}


def provider_label(provider: str) -> str:
    return PROVIDERS.get(provider, provider)


def integration_label(integration: InboundIntegration) -> str:
    """What the pages call an inbound integration: its name, else its sender."""
    return integration.name or provider_label(integration.provider)


# What to do with a new inbound integration's URL and secret, per sender.
PROVIDER_SETUP = {
    "github": "In the repository's Settings → Webhooks, paste the URL as Payload URL, choose "
    "application/json, and paste the secret as Secret.",
    "alertmanager": "In alertmanager.yml, add a webhook_configs receiver with this url and "
    "http_config: authorization: credentials: <the secret>.",
    "standard": "Configure the sender with this URL and the whsec_ secret; it signs each "
    "request with webhook-id, webhook-timestamp and webhook-signature.",
}


@dataclass(frozen=True)
class Revealed:
    """A secret shown in this one answer and never again (with the URL it goes with)."""

    title: str
    secret: str
    field_id: str
    hint: str = ""
    url: str | None = None


@dataclass(frozen=True)
class ChannelRow:
    id: int
    kind: str
    kind_label: str
    name: str
    enabled: bool
    url: str | None
    to: list[str]


@dataclass(frozen=True)
class InboundRow:
    public_id: str
    provider: str
    provider_label: str
    name: str
    enabled: bool
    url: str
    created_at: datetime
    last_received_at: datetime | None
    previous_secret_expires_at: datetime | None


def channel_rows(session: Session, access: TeamContext) -> list[ChannelRow]:
    # Never the secret column: routing keys, Slack URLs and signing secrets stay stored.
    return [
        ChannelRow(
            id=channel.id,
            kind=channel.kind,
            kind_label=CHANNEL_KINDS.get(channel.kind, channel.kind),
            name=channel.name,
            enabled=channel.enabled,
            url=channel.config.get("url"),
            to=list(channel.config.get("to") or []),
        )
        for channel in channel_service.list_channels(session, team=access.team)
    ]


def inbound_rows(session: Session, portal: PortalContext, access: TeamContext) -> list[InboundRow]:
    return [
        InboundRow(
            public_id=found.public_id,
            provider=found.provider,
            provider_label=provider_label(found.provider),
            name=found.name,
            enabled=found.enabled,
            url=inbound.hook_url(portal.settings.base_url, found),
            created_at=found.created_at,
            last_received_at=found.last_received_at,
            previous_secret_expires_at=found.previous_secret_expires_at,
        )
        for found in inbound.list_integrations(session, team=access.team)
    ]


def integrations_context(
    session: Session,
    portal: PortalContext,
    access: TeamContext,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page shows. `can_manage` decides which controls appear; every change
    is checked again by its own route (TeamOwner)."""
    can_manage = access.role.allows(Role.OWNER)
    smtp = bool(portal.settings.smtp_host)
    kinds = [(kind, label) for kind, label in CHANNEL_KINDS.items() if kind != "email" or smtp]
    context: dict[str, Any] = {
        "can_manage": can_manage,
        "now_utc": utcnow(),
        "channels": channel_rows(session, access),
        "channel_kinds": kinds,
        "email_available": smtp,
        "slack_base": portal.settings.slack_webhook_url.rstrip("/") + "/",
        "channel_form": FormState(values={"kind": "slack"}),
        "channel_secret": None,
        "subscriptions": [],
        "event_options": [
            (webhooks.ALL_EVENTS, "All events", "including types added later"),
            *(
                (name, name, event_type.description)
                for name, event_type in sorted(portal.registry.event_types.items())
            ),
        ],
        "webhook_form": FormState(),
        "webhook_events": [],
        "webhook_secret": None,
        "integrations": [],
        "providers": list(PROVIDERS.items()),
        "inbound_form": FormState(values={"provider": "github"}),
        "inbound_secret": None,
    }
    if can_manage:
        context["subscriptions"] = webhooks.list_subscriptions(session, team=access.team)
        context["integrations"] = inbound_rows(session, portal, access)
    context.update(extra or {})
    return context


@router.get("/t/{team}/integrations")
def integrations_page(
    request: Request, access: TeamAccess, session: DbSession, portal: Portal
) -> Response:
    context = integrations_context(session, portal, access)
    return render(request, TEMPLATE, context, session=session)


def section(
    request: Request,
    session: Session,
    portal: PortalContext,
    access: TeamContext,
    block: str,
    extra: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """One section of the page (a whole page when the request is not an in-page one)."""
    context = integrations_context(session, portal, access, extra)
    return render(
        request, TEMPLATE, context, block_name=block, status_code=status_code, session=session
    )


def apply(
    request: Request,
    session: Session,
    portal: PortalContext,
    access: TeamContext,
    *,
    block: str,
    form_key: str,
    change: Callable[[], dict[str, Any]],
    values: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """Make `change` and answer with section `block` showing the outcome.

    `change` returns what the section shows next (a done message, a secret revealed once).
    A refused change is rolled back whole and shown in the section's form `form_key`, each
    field problem beside its field, with the error's status; `kept` is context the failed
    form still needs (the boxes that were ticked).
    """
    try:
        shown = change()
    except OpsyardError as exc:
        if exc.error.status >= 500:
            raise
        session.rollback()
        failed = {form_key: FormState.failed(exc, values), **(kept or {})}
        return section(request, session, portal, access, block, failed, exc.error.status)
    session.flush()
    return section(request, session, portal, access, block, shown)
