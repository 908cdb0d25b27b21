"""The calls plugins use to reach a team: `notify` and `page_oncall`, plus the delivery
log the API shows.

Both only write rows, in the caller's transaction: a notification exists exactly when the
change that caused it does, and nothing is lost while a provider is down. The sender job
(`opsyard.notifications.sender`) delivers the rows, with retries kept in the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.notifications import errors as notification_errors
from opsyard.notifications import paging
from opsyard.notifications.models import (
    FAILED,
    OPEN_PAGE_STATUSES,
    PENDING,
    Channel,
    Notification,
    Page,
)
from opsyard.notifications.outbox import (
    MAX_SUMMARY,
    SEVERITIES,
    Severity,
    check_dedup_key,
    check_severity,
    choose_channels,
    enqueue,
)
from opsyard.notifications.paging import PAGE_ACTIONS, PageAction, PageResult
from opsyard.teams.models import Team
from opsyard.teams.owned import get_team_row

__all__ = [
    "PAGE_ACTIONS",
    "SEVERITIES",
    "PageAction",
    "PageResult",
    "Severity",
    "get_notification",
    "list_notifications",
    "list_pages",
    "notify",
    "page_oncall",
    "resend",
    "send_test",
]


def notify(
    session: Session,
    *,
    team: Team,
    summary: str,
    severity: Severity,
    body: str = "",
    details: dict[str, Any] | None = None,
    channels: Sequence[int] | None = None,
    dedup_key: str | None = None,
    source: str | None = None,
    at: datetime | None = None,
    people: Sequence[User] = (),
) -> list[Notification]:
    """Queue a message to the team's channels; returns one notification per channel.

    `channels` names channel ids; by default every enabled channel except PagerDuty ones,
    which wake people up and are reached through `page_oncall` (or by naming them).
    `people` are whom the message is for: email channels write to them instead of the
    channel's list, and the other channels, which post to a team's room, carry their
    addresses in ``details["to"]`` (name them in `summary` or `body` too).
    """
    check_severity(severity)
    check_dedup_key(dedup_key)
    now = at or utcnow()
    addresses = [person.email for person in people]
    if addresses:
        details = {**(details or {}), "to": addresses}
    queued = [
        enqueue(
            session,
            team=team,
            channel=channel,
            purpose="notify",
            severity=severity,
            summary=summary,
            body=body,
            details=dict(details or {}),
            dedup_key=dedup_key,
            source=source or f"opsyard/{team.slug}",
            at=now,
            recipients=addresses if addresses and channel.kind == "email" else None,
        )
        for channel in choose_channels(
            session, team=team, channel_ids=channels, with_pagerduty=channels is not None
        )
    ]
    session.flush()
    return queued


def page_oncall(
    session: Session,
    *,
    team: Team,
    summary: str,
    severity: Severity,
    dedup_key: str,
    action: PageAction = "trigger",
    body: str = "",
    details: dict[str, Any] | None = None,
    channels: Sequence[int] | None = None,
    rotation: str | None = None,
    source: str | None = None,
    at: datetime | None = None,
    actor: User | None = None,
) -> PageResult:
    """Trigger, acknowledge or resolve the team's page `dedup_key`, reaching its on-call
    engineer through every enabled channel (or those named in `channels`).

    Triggering an open page again, acknowledging one that is not triggered, or resolving one
    that is not open changes nothing and sends nothing (``deduplicated=True``). Acknowledge
    and resolve go to the channels the trigger went to, naming the person it paged. A
    person acting (`actor`, from the API) is recorded in the audit log.
    """
    paging.check_action(action)
    check_severity(severity)
    check_dedup_key(dedup_key)
    now = at or utcnow()
    if actor is not None:
        audit.record(
            session,
            actor=actor,
            action=f"notifications.page_{action}",
            target=dedup_key,
            team_id=team.id,
        )
    if action == "trigger":
        return paging.trigger(
            session,
            team=team,
            summary=summary[:MAX_SUMMARY],
            severity=severity,
            dedup_key=dedup_key,
            body=body,
            details=dict(details or {}),
            channels=channels,
            rotation=rotation,
            source=source or f"opsyard/{team.slug}",
            at=now,
        )
    return paging.follow_up(
        session,
        team=team,
        action=action,
        dedup_key=dedup_key,
        body=body,
        details=dict(details or {}),
        source=source or f"opsyard/{team.slug}",
        at=now,
    )


def send_test(
    session: Session,
    *,
    team: Team,
    channel: Channel,
    actor: User | None,
    at: datetime | None = None,
) -> list[Notification]:
    """Queue a test message to `channel`. On PagerDuty it is a trigger followed by a
    resolve, so the test incident closes itself."""
    if not channel.enabled:
        raise OpsyardError(notification_errors.CHANNEL_DISABLED, f"{channel.name} is switched off.")
    now = at or utcnow()
    who = actor.email if actor else "opsyard"
    common: dict[str, Any] = {
        "team": team,
        "channel": channel,
        "purpose": "test",
        "severity": "info",
        "summary": f"Test notification for team {team.slug} via {channel.name}",
        "body": f"Sent by {who} to check the channel. Nothing needs doing.",
        "details": {},
        "source": f"opsyard/{team.slug}",
        "at": now,
    }
    if channel.kind == "pagerduty":
        key = f"opsyard-test-{uuid.uuid4().hex}"
        queued = [
            enqueue(session, **common, action="trigger", dedup_key=key),
            enqueue(session, **common, action="resolve", dedup_key=key),
        ]
    else:
        queued = [enqueue(session, **common, dedup_key=None)]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="notifications.channel_tested",
        target=channel.name,
        team_id=team.id,
    )
    return queued


def list_notifications(
    session: Session,
    *,
    team: Team,
    status: str | None = None,
    channel_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Notification]:
    """The team's notifications, newest first; `before_id` pages back through older ones."""
    query = select(Notification).where(Notification.team_id == team.id)
    if status is not None:
        query = query.where(Notification.status == status)
    if channel_id is not None:
        query = query.where(Notification.channel_id == channel_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def get_notification(session: Session, *, team: Team, notification_id: int) -> Notification:
    """The team's notification `notification_id`; 404 otherwise."""
    return get_team_row(session, Notification, notification_id, team=team, what="notification")


def resend(
    session: Session,
    *,
    team: Team,
    notification: Notification,
    actor: User | None,
    at: datetime | None = None,
) -> Notification:
    """Send a failed notification again, with a fresh retry schedule."""
    if notification.status != FAILED:
        raise OpsyardError(
            notification_errors.NOT_RETRYABLE,
            f"Notification {notification.id} is {notification.status}.",
        )
    notification.status = PENDING
    notification.attempts = 0
    notification.next_attempt_at = at or utcnow()
    audit.record(
        session,
        actor=actor,
        action="notifications.resent",
        target=str(notification.id),
        team_id=team.id,
    )
    return notification


def list_pages(
    session: Session, *, team: Team, open_only: bool = False, limit: int = 50
) -> list[Page]:
    """The team's pages, most recently triggered first."""
    query = select(Page).where(Page.team_id == team.id)
    if open_only:
        query = query.where(Page.status.in_(OPEN_PAGE_STATUSES))
    return list(
        session.scalars(query.order_by(Page.triggered_at.desc(), Page.id.desc()).limit(limit))
    )
