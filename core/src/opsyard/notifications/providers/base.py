"""What the sender hands a provider, what it gets back, and the wording all providers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_RESPONSE_CHARS = 2000


@dataclass(frozen=True)
class Target:
    """The channel a message goes to, copied out of the database for the send."""

    kind: str
    name: str
    secret: str | None
    config: dict[str, Any]


@dataclass(frozen=True)
class Outgoing:
    """One notification as the provider needs it; copied from its row when claimed."""

    notification_id: int
    message_id: str
    team_slug: str
    purpose: str
    action: str | None
    severity: str
    summary: str
    body: str
    details: dict[str, Any]
    dedup_key: str | None
    source: str
    oncall_name: str | None
    oncall_email: str | None
    recipients: list[str]
    created_at: datetime

    @property
    def is_page(self) -> bool:
        return self.purpose == "page"


@dataclass(frozen=True)
class Outcome:
    """How a delivery attempt ended. `retryable` matters only when not `delivered`."""

    delivered: bool
    retryable: bool = False
    status: int | None = None
    response: str | None = None
    error: str | None = None
    retry_after_seconds: int | None = field(default=None)

    @classmethod
    def refused(
        cls, error: str, *, status: int | None = None, response: str | None = None
    ) -> Outcome:
        return cls(delivered=False, retryable=False, status=status, response=response, error=error)


def clip(text: str, limit: int = MAX_RESPONSE_CHARS) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def headline(out: Outgoing) -> str:
    """The one-line subject every provider shows: what happened and how bad it is."""
    if out.purpose == "test":
        return f"[TEST] {out.summary}"
    if out.is_page and out.action == "acknowledge":
        return f"[ACKNOWLEDGED] {out.summary}"
    if out.is_page and out.action == "resolve":
        return f"[RESOLVED] {out.summary}"
    if out.is_page:
        return f"[PAGE · {out.severity.upper()}] {out.summary}"
    return f"[{out.severity.upper()}] {out.summary}"


def oncall_line(out: Outgoing) -> str | None:
    """Who was paged, for channels that cannot page anyone themselves; None for non-pages."""
    if not out.is_page:
        return None
    if out.oncall_name is None:
        return "Nobody is on call for this team."
    if out.oncall_email:
        return f"On call: {out.oncall_name} <{out.oncall_email}>"
    return f"On call: {out.oncall_name}"


def plain_text(out: Outgoing) -> str:
    """The message as plain text: headline, on-call person, body, details, dedup key."""
    lines = [headline(out), ""]
    who = oncall_line(out)
    if who:
        lines += [who, ""]
    if out.body:
        lines += [out.body, ""]
    for key, value in out.details.items():
        lines.append(f"{key}: {value}")
    lines.append(f"Team: {out.team_slug}")
    if out.dedup_key:
        lines.append(f"Dedup key: {out.dedup_key}")
    return "\n".join(lines).strip() + "\n"
