"""PagerDuty Events API v2: POST {base}/v2/enqueue with a trigger, acknowledge or resolve.

A trigger carries ``payload.summary``, ``source``, ``severity`` and ``custom_details``;
acknowledge and resolve carry only the routing and dedup keys. PagerDuty answers 202 with
``{"status": "success", "message": "Event processed", "dedup_key": ...}``, 400 with
``errors`` when the event is invalid, and 429 when throttled.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from opsyard.config import Settings
from opsyard.notifications.providers import http
from opsyard.notifications.providers.base import Outcome, Outgoing, Target, clip

MAX_SUMMARY = 1024
CLIENT = "opsyard"


def enqueue_url(settings: Settings) -> str:
    return settings.pagerduty_events_url.rstrip("/") + "/v2/enqueue"


def dedup_key(out: Outgoing) -> str:
    """The event's dedup key; a notification without one gets a key stable across retries,
    so a retried trigger never opens a second incident."""
    return out.dedup_key or f"opsyard-{out.message_id}"


def event(out: Outgoing, *, routing_key: str, settings: Settings) -> dict[str, Any]:
    """The Events API v2 body for `out`."""
    action = out.action or "trigger"
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(out),
    }
    if action != "trigger":
        return body
    details: dict[str, Any] = dict(out.details)
    if out.body:
        details.setdefault("body", out.body)
    details.setdefault("team", out.team_slug)
    body["payload"] = {
        "summary": clip(out.summary, MAX_SUMMARY),
        "source": out.source,
        "severity": out.severity,
        "timestamp": out.created_at.isoformat(),
        "group": out.team_slug,
        "custom_details": details,
    }
    body["client"] = CLIENT
    body["client_url"] = settings.base_url
    return body


def _describe(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return f"PagerDuty answered {response.status_code}: {clip(response.text, 300)}"
    if not isinstance(answer, dict):
        return f"PagerDuty answered {response.status_code}"
    reasons = "; ".join(str(e) for e in answer.get("errors") or [])
    message = answer.get("message") or answer.get("status") or ""
    return f"PagerDuty answered {response.status_code}: {message}" + (
        f" ({reasons})" if reasons else ""
    )


def send(client: httpx.Client, out: Outgoing, target: Target, settings: Settings) -> Outcome:
    """Send `out` as one PagerDuty event."""
    if not target.secret:
        return Outcome.refused("The channel has no routing key.")
    body = event(out, routing_key=target.secret, settings=settings)
    return http.post(
        client,
        enqueue_url(settings),
        settings=settings,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        describe=_describe,
    )
