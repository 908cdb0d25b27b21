"""Slack incoming webhooks: POST ``text`` (the notification fallback) plus ``blocks``.

Slack answers 200 with the body ``ok``; failures are plain-text reasons such as 400
``invalid_payload``, 403 ``action_prohibited``, 404 ``no_service`` or ``channel_not_found``
and 410 ``channel_is_archived``; 429 means rate limited.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from opsyard.config import Settings
from opsyard.notifications.providers import http
from opsyard.notifications.providers.base import (
    Outcome,
    Outgoing,
    Target,
    clip,
    headline,
    oncall_line,
)

# Slack rejects section text over 3000 characters with invalid_blocks.
MAX_SECTION = 3000


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(out: Outgoing) -> dict[str, Any]:
    """The incoming-webhook body for `out`."""
    title = headline(out)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(f"*{escape(title)}*", MAX_SECTION)},
        }
    ]
    who = oncall_line(out)
    if who:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(who)}})
    if out.body:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(escape(out.body), MAX_SECTION)},
            }
        )
    if out.details:
        fields = [
            {"type": "mrkdwn", "text": clip(f"*{escape(str(k))}*\n{escape(str(v))}", 2000)}
            for k, v in list(out.details.items())[:10]  # Slack allows ten fields per section
        ]
        blocks.append({"type": "section", "fields": fields})
    context = [f"Team {out.team_slug}", f"severity {out.severity}"]
    if out.dedup_key:
        context.append(f"dedup key {out.dedup_key}")
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(" · ".join(context))}]}
    )
    # The top-level text is the notification fallback; Slack reads it as mrkdwn too.
    text = title if who is None else f"{title} — {who}"
    return {"text": clip(escape(text), MAX_SECTION), "blocks": blocks}


def _describe(response: httpx.Response) -> str:
    return f"Slack answered {response.status_code}: {clip(response.text.strip(), 300)}"


def send(client: httpx.Client, out: Outgoing, target: Target, settings: Settings) -> Outcome:
    """Post `out` to the channel's incoming webhook."""
    if not target.secret:
        return Outcome.refused("The channel has no webhook URL.")
    return http.post(
        client,
        target.secret,
        settings=settings,
        content=json.dumps(message(out)).encode(),
        headers={"content-type": "application/json"},
        describe=_describe,
    )
