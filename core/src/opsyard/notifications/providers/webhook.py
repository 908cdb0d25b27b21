"""Generic webhooks: a JSON POST signed per Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) with the channel's ``whsec_`` secret."""

from __future__ import annotations

import json
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from opsyard.config import Settings
from opsyard.db.base import utcnow
from opsyard.notifications.providers import http
from opsyard.notifications.providers.base import Outcome, Outgoing, Target


def event_type(out: Outgoing) -> str:
    """``notification.sent``, ``notification.test`` or ``page.triggered`` and so on."""
    if out.is_page:
        past = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
        return f"page.{past.get(out.action or 'trigger', 'triggered')}"
    return "notification.test" if out.purpose == "test" else "notification.sent"


def payload(out: Outgoing) -> dict[str, Any]:
    """The Standard Webhooks envelope: type, timestamp, data."""
    on_call = (
        {"name": out.oncall_name, "email": out.oncall_email}
        if out.oncall_name is not None
        else None
    )
    return {
        "type": event_type(out),
        "timestamp": out.created_at.isoformat(),
        "data": {
            "id": out.message_id,
            "team": out.team_slug,
            "summary": out.summary,
            "severity": out.severity,
            "body": out.body,
            "details": out.details,
            "dedup_key": out.dedup_key,
            "action": out.action,
            "source": out.source,
            "on_call": on_call if out.is_page else None,
        },
    }


def signed_headers(*, secret: str, message_id: str, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`."""
    # The wall clock, not the job's `at`: receivers reject timestamps far from their now.
    now = utcnow()
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def send(client: httpx.Client, out: Outgoing, target: Target, settings: Settings) -> Outcome:
    """POST `out` to the channel's URL, signed with its secret."""
    url = str(target.config.get("url") or "")
    if not url or not target.secret:
        return Outcome.refused("The channel has no URL or no signing secret.")
    body = json.dumps(payload(out))
    return http.post(
        client,
        url,
        settings=settings,
        content=body.encode(),
        headers=signed_headers(secret=target.secret, message_id=out.message_id, body=body),
    )
