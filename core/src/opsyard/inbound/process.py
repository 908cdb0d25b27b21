"""The ``core.inbound.process`` job: hands each stored delivery to the plugins its team has
enabled and records which of them acted on it.

Safe on several workers at once: rows are taken in one conditional UPDATE (with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL) that pushes them forward by a lease, so each delivery goes to one
worker; a worker that dies leaves its rows due again once the lease ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from opsyard.context import PortalContext
from opsyard.db.claims import claim_due
from opsyard.extension import InboundDelivery, JobContext
from opsyard.inbound.models import InboundIntegration, InboundStatus, ReceivedWebhook
from opsyard.jobs.drain import drain
from opsyard.teams.models import Team, TeamPlugin

BATCH_SIZE = 100
LEASE = timedelta(minutes=5)
RUN_BUDGET_SECONDS = 60.0


def dispatch(portal: PortalContext, delivery: InboundDelivery, enabled: Iterable[str]) -> list[str]:
    """The plugins, among those the team enabled, that acted on `delivery`."""
    return [
        name
        for name, handled in portal.registry.call_each(
            "handle_inbound_webhook", plugins=enabled, delivery=delivery, portal=portal
        )
        if handled
    ]


def run(context: JobContext) -> None:
    """Job entry point."""
    process_pending(context.portal, at=context.at)


def process_pending(
    portal: PortalContext,
    *,
    at: datetime,
    batch_size: int = BATCH_SIZE,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> int:
    """Hand on every stored delivery due as of `at`, oldest first; returns how many."""

    def batch(now: datetime) -> int | None:
        token = uuid.uuid4().hex
        ids = _claim(portal, now=now, token=token, limit=batch_size)
        return _process(portal, ids, token=token, now=now) if ids else None

    return drain(at=at, budget_seconds=budget_seconds, batch=batch)


def _claim(portal: PortalContext, *, now: datetime, token: str, limit: int) -> list[int]:
    with portal.sessions() as session:
        return claim_due(session, ReceivedWebhook, now=now, lease=LEASE, token=token, limit=limit)


def _process(portal: PortalContext, ids: list[int], *, token: str, now: datetime) -> int:
    with portal.sessions() as session:
        rows = session.execute(
            select(ReceivedWebhook, InboundIntegration.provider, Team)
            .join(InboundIntegration, InboundIntegration.id == ReceivedWebhook.integration_id)
            .join(Team, Team.id == InboundIntegration.team_id)
            .where(ReceivedWebhook.id.in_(ids))
            .order_by(ReceivedWebhook.id)
        )
        work = [
            (
                row.id,
                team.id,
                InboundDelivery(
                    provider=provider,
                    team_slug=team.slug,
                    delivery_id=row.delivery_id,
                    event=row.event,
                    payload=dict(row.payload),
                    received_at=row.received_at,
                ),
            )
            for row, provider, team in rows
        ]
        team_ids = {team_id for _, team_id, _ in work}
        enabled: dict[int, set[str]] = {team_id: set() for team_id in team_ids}
        for team_id, plugin in session.execute(
            select(TeamPlugin.team_id, TeamPlugin.plugin).where(TeamPlugin.team_id.in_(team_ids))
        ):
            enabled[team_id].add(plugin)
    # Plugins run outside any transaction of ours: on SQLite one that writes would otherwise
    # wait on our own lock.
    outcomes = [
        (row_id, dispatch(portal, delivery, enabled[team_id])) for row_id, team_id, delivery in work
    ]
    with portal.sessions() as session:
        for row_id, handled_by in outcomes:
            session.execute(
                update(ReceivedWebhook)
                .where(ReceivedWebhook.id == row_id, ReceivedWebhook.claimed_by == token)
                .values(
                    status=InboundStatus.PROCESSED,
                    processed_at=now,
                    handled_by=handled_by,
                    next_attempt_at=None,
                    claimed_by=None,
                )
                .execution_options(synchronize_session=False)
            )
        session.commit()
    return len(outcomes)
