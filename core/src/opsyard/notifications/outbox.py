"""Writing notification rows: which channels a message goes to, and one row per channel.

Rows are added to the caller's session, so they commit or roll back with the change that
caused them; the sender job delivers them later.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.notifications import errors as notification_errors
from opsyard.notifications.models import PENDING, Channel, Notification, Page
from opsyard.teams.models import Team

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024


def check_severity(severity: str) -> None:
    """Raise `notifications.invalid_severity` unless `severity` is one of PagerDuty's four."""
    if severity not in SEVERITIES:
        raise OpsyardError(
            notification_errors.INVALID_SEVERITY,
            f"{severity!r} is not a severity.",
            fields=[FieldProblem("/severity", "Use critical, error, warning or info.")],
        )


def check_dedup_key(dedup_key: str | None) -> None:
    """Raise `notifications.invalid_dedup_key` unless the key fits PagerDuty's 255 characters."""
    if dedup_key is not None and not 0 < len(dedup_key) <= MAX_DEDUP_KEY:
        raise OpsyardError(
            notification_errors.INVALID_DEDUP_KEY,
            f"Dedup keys have 1 to {MAX_DEDUP_KEY} characters.",
            fields=[FieldProblem("/dedup_key", "Use a short stable key, e.g. 'checkout-latency'.")],
        )


def choose_channels(
    session: Session, *, team: Team, channel_ids: Sequence[int] | None, with_pagerduty: bool
) -> list[Channel]:
    """The enabled channels to use: those named, or by default all of the team's."""
    if channel_ids is None:
        query = select(Channel).where(Channel.team_id == team.id, Channel.enabled.is_(True))
        found = list(session.scalars(query.order_by(Channel.id)))
        return [c for c in found if with_pagerduty or c.kind != "pagerduty"]
    chosen: list[Channel] = []
    for index, channel_id in enumerate(channel_ids):
        channel = session.get(Channel, channel_id)
        if channel is None or channel.team_id != team.id:
            raise OpsyardError(
                notification_errors.UNKNOWN_CHANNEL,
                f"Team {team.slug} has no channel {channel_id}.",
                fields=[FieldProblem(f"/channels/{index}", "Use one of the team's channel ids.")],
            )
        if channel.enabled and channel not in chosen:
            chosen.append(channel)
    return chosen


def recipients_for(channel: Channel, person: User | None) -> list[str]:
    """Email addresses for a row: the paged person's, else the channel's list; none for
    channels that are not email."""
    if channel.kind != "email":
        return []
    if person is not None:
        return [person.email]
    return [str(a) for a in channel.config.get("to") or []]


def enqueue(
    session: Session,
    *,
    team: Team,
    channel: Channel,
    purpose: str,
    severity: str,
    summary: str,
    body: str,
    details: dict[str, Any],
    dedup_key: str | None,
    source: str,
    at: datetime,
    action: str | None = None,
    page: Page | None = None,
    person: User | None = None,
    recipients: list[str] | None = None,
) -> Notification:
    """Add one pending notification for `channel`, due at `at`, to the caller's session."""
    notification = Notification(
        message_id=f"msg_{uuid.uuid4().hex}",
        team_id=team.id,
        channel_id=channel.id,
        channel_kind=channel.kind,
        channel_name=channel.name,
        page_id=page.id if page is not None else None,
        purpose=purpose,
        action=action,
        severity=severity,
        summary=summary[:MAX_SUMMARY],
        body=body,
        details=details,
        dedup_key=dedup_key,
        source=source,
        oncall_user_id=person.id if person else None,
        oncall_name=person.display_name if person else None,
        oncall_email=person.email if person else None,
        recipients=recipients if recipients is not None else recipients_for(channel, None),
        status=PENDING,
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
    session.add(notification)
    return notification
