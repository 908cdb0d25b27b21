"""Helpers shared by the event and webhook tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.events import emit
from opsyard.extension import JobContext
from opsyard.teams.models import Team
from opsyard.webhooks.models import WebhookDelivery
from tests.conftest import World


@pytest.fixture
def received() -> dict[str, list[Any]]:
    """The fixture plugin's record of hook calls, emptied for this test."""
    from opsyard_fixture.plugin import RECEIVED

    RECEIVED["handle_event"].clear()
    RECEIVED["handle_inbound_webhook"].clear()
    return RECEIVED


def run_job(ctx: PortalContext, name: str, at: datetime) -> None:
    """Run one of core's jobs as the scheduler would, as of `at`."""
    jobs = {job.name: job for _, found in ctx.registry.call_each("scheduled_jobs") for job in found}
    jobs[name].run(JobContext(at=at, portal=ctx))


def emit_notes(ctx: PortalContext, *, team: str = "alpha", count: int = 1) -> list[str]:
    """Emit `count` fixture.note.created events for `team`; returns their ids."""
    with session_scope(ctx.sessions) as session:
        found = session.scalars(select(Team).where(Team.slug == team)).one()
        return [
            emit(
                session,
                registry=ctx.registry,
                team=found,
                name="fixture.note.created",
                payload={"note_id": i, "text": f"note {i}"},
            ).id
            for i in range(count)
        ]


def subscribe(
    client: TestClient,
    world: World,
    url: str,
    *,
    event_types: list[str] | None = None,
    team: str = "alpha",
    who: str = "alice",
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/teams/{team}/webhooks",
        json={"url": url, "event_types": event_types or ["fixture.note.created"]},
        headers=world.auth(who),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(ctx: PortalContext) -> list[WebhookDelivery]:
    with ctx.sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def now() -> datetime:
    return datetime.now(UTC)
