"""The background sender: delivers due notifications, one claimed row at a time.

Safe on any number of workers at once. A row is claimed with a conditional UPDATE that
moves its `next_attempt_at` forward by a lease, committed before the provider is called:
only one worker's UPDATE matches, and a worker that dies mid-send leaves the row to be
picked up again when the lease runs out. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` also
keeps workers from queuing behind each other's candidates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opsyard import net
from opsyard.config import Settings
from opsyard.db.engine import session_scope
from opsyard.extension import JobContext
from opsyard.notifications.models import FAILED, PENDING, SENDING, SENT, Channel, Notification
from opsyard.notifications.providers import email, pagerduty, slack, webhook
from opsyard.notifications.providers.base import Outcome, Outgoing, Target
from opsyard.notifications.rows import changed_rows
from opsyard.retry import NOTIFICATION_RETRIES, RetrySchedule
from opsyard.teams.models import Team

if TYPE_CHECKING:
    from opsyard.context import PortalContext

log = logging.getLogger(__name__)

JOB_NAME = "core.notifications.send"
# Longer than one send can take (HTTP and SMTP timeouts), so a live worker keeps its row.
LEASE = timedelta(minutes=2)
# How long a row waits before looking again when an earlier row of its page is mid-send.
FOLLOWER_RECHECK = timedelta(seconds=5)
CANDIDATES = 10
MAX_PER_RUN = 500
# Real seconds one run may spend, well inside the job's time limit.
RUN_BUDGET_SECONDS = 60.0


@dataclass(frozen=True)
class Claim:
    """A row this worker holds: its attempt number and what to send where."""

    notification_id: int
    attempt: int
    outgoing: Outgoing
    target: Target | None
    refusal: str | None = None


def run(context: JobContext) -> None:
    """The `core.notifications.send` job: deliver everything due as of `context.at`."""
    deliver_due(context.portal, at=context.at)


def deliver_due(portal: PortalContext, *, at: datetime, limit: int = MAX_PER_RUN) -> int:
    """Claim and deliver due notifications until none is left; returns how many were tried."""
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    tried = 0
    # Made on the first claim only: building a client (its TLS context) costs more than a
    # run that finds nothing to do.
    client: httpx.Client | None = None
    try:
        while tried < limit and time.monotonic() < deadline:
            claim = claim_next(portal, at=at)
            if claim is None:
                break
            client = client or net.http_client()
            outcome = deliver(claim, settings=portal.settings, client=client)
            record(portal, claim, outcome, at=at)
            tried += 1
    finally:
        if client is not None:
            client.close()
    return tried


def _blocker(session: Session, row: Notification) -> Notification | None:
    """An earlier unfinished row for the same channel and dedup key: a resolve must not
    overtake its trigger, or the incident would open after it was closed."""
    if row.dedup_key is None or row.channel_id is None:
        return None
    query = select(Notification).where(
        Notification.channel_id == row.channel_id,
        Notification.dedup_key == row.dedup_key,
        Notification.id < row.id,
        Notification.status.in_((PENDING, SENDING)),
    )
    return session.scalar(query.order_by(Notification.id).limit(1))


def claim_next(portal: PortalContext, *, at: datetime) -> Claim | None:
    """Take one due row for this worker, or None when nothing is due."""
    with session_scope(portal.sessions) as session:
        due = (
            select(Notification.id)
            .where(Notification.next_attempt_at <= at)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(CANDIDATES)
            .with_for_update(skip_locked=True)
        )
        for notification_id in list(session.scalars(due)):
            row = session.get(Notification, notification_id)
            if row is None or row.next_attempt_at is None:
                continue
            blocker = _blocker(session, row)
            if blocker is not None:
                _wait_behind(session, row, blocker, at=at)
                continue
            claimed = changed_rows(
                session,
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.next_attempt_at <= at,
                    Notification.status.in_((PENDING, SENDING)),
                )
                .values(
                    status=SENDING,
                    attempts=Notification.attempts + 1,
                    next_attempt_at=at + LEASE,
                    last_attempt_at=at,
                )
                .execution_options(synchronize_session=False),
            )
            if claimed != 1:
                continue  # another worker took it between our read and our update
            session.refresh(row)
            return _snapshot(session, row)
    return None


def _wait_behind(
    session: Session, row: Notification, blocker: Notification, *, at: datetime
) -> None:
    ahead = blocker.next_attempt_at or at
    wait_until = ahead if blocker.status == PENDING else at + FOLLOWER_RECHECK
    session.execute(
        update(Notification)
        .where(Notification.id == row.id, Notification.next_attempt_at <= at)
        .values(next_attempt_at=max(wait_until, at) + timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )


def _snapshot(session: Session, row: Notification) -> Claim:
    team = session.get(Team, row.team_id)
    outgoing = Outgoing(
        notification_id=row.id,
        message_id=row.message_id,
        team_slug=team.slug if team else "",
        purpose=row.purpose,
        action=row.action,
        severity=row.severity,
        summary=row.summary,
        body=row.body,
        details=dict(row.details or {}),
        dedup_key=row.dedup_key,
        source=row.source,
        oncall_name=row.oncall_name,
        oncall_email=row.oncall_email,
        recipients=list(row.recipients or []),
        created_at=row.created_at,
    )
    channel = session.get(Channel, row.channel_id) if row.channel_id is not None else None
    if channel is None:
        return Claim(row.id, row.attempts, outgoing, None, "The channel was deleted.")
    if not channel.enabled:
        return Claim(row.id, row.attempts, outgoing, None, "The channel is switched off.")
    target = Target(
        kind=channel.kind, name=channel.name, secret=channel.secret, config=dict(channel.config)
    )
    return Claim(row.id, row.attempts, outgoing, target)


def deliver(claim: Claim, *, settings: Settings, client: httpx.Client) -> Outcome:
    """One delivery attempt through the channel's provider. Never raises: a surprise is an
    outcome worth retrying, recorded with its reason."""
    if claim.target is None:
        return Outcome.refused(claim.refusal or "Nowhere to send this.")
    target = claim.target
    try:
        if target.kind == "pagerduty":
            return pagerduty.send(client, claim.outgoing, target, settings)
        if target.kind == "slack":
            return slack.send(client, claim.outgoing, target, settings)
        if target.kind == "webhook":
            return webhook.send(client, claim.outgoing, target, settings)
        if target.kind == "email":
            return email.send(claim.outgoing, target, settings)
    except Exception as exc:
        log.exception("notification %s: provider %s failed", claim.notification_id, target.kind)
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    return Outcome.refused(f"Unknown channel kind {target.kind!r}.")


def next_state(
    outcome: Outcome, *, attempt: int, at: datetime, schedule: RetrySchedule = NOTIFICATION_RETRIES
) -> tuple[str, datetime | None, str | None]:
    """(status, next attempt, error) after attempt number `attempt` ended with `outcome`."""
    if outcome.delivered:
        return SENT, None, None
    if not outcome.retryable:
        return FAILED, None, outcome.error
    retry_at = schedule.next_attempt(attempts_made=attempt, now=at)
    if retry_at is None:
        return FAILED, None, f"Gave up after {attempt} attempts: {outcome.error}"
    if outcome.retry_after_seconds is not None:
        # The provider said when it will take more; earlier would only be throttled again.
        retry_at = max(retry_at, at + timedelta(seconds=outcome.retry_after_seconds))
    return PENDING, retry_at, outcome.error


def record(portal: PortalContext, claim: Claim, outcome: Outcome, *, at: datetime) -> None:
    """Write the attempt's result, unless the lease ran out and another worker owns the row."""
    status, retry_at, error = next_state(outcome, attempt=claim.attempt, at=at)
    with session_scope(portal.sessions) as session:
        written = changed_rows(
            session,
            update(Notification)
            .where(
                Notification.id == claim.notification_id,
                Notification.status == SENDING,
                Notification.attempts == claim.attempt,
            )
            .values(
                status=status,
                next_attempt_at=retry_at,
                sent_at=at if status == SENT else None,
                last_error=error,
                provider_status=outcome.status,
                provider_response=outcome.response,
            )
            .execution_options(synchronize_session=False),
        )
    if written != 1:
        log.warning(
            "notification %s: lease lost before the result was written", claim.notification_id
        )
    elif status != SENT:
        log.warning(
            "notification %s: attempt %s failed (%s): %s",
            claim.notification_id,
            claim.attempt,
            "will retry" if status == PENDING else "gave up",
            error,
        )
