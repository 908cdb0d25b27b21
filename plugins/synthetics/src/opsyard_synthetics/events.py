"""The events the synthetics plugin emits, with their payloads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from opsyard.context import PortalContext
from opsyard.events import service as core_events
from opsyard.extension import Event, EventType
from opsyard.teams.models import Team

ALERT_TRIGGERED = "synthetics.alert.triggered"
ALERT_RESOLVED = "synthetics.alert.resolved"
LOCATION_UNHEALTHY = "synthetics.location.unhealthy"


class AlertPayload(BaseModel):
    check: str
    team: str
    # "page" or "notify": a failing quorum pages, a degraded one notifies.
    level: str
    # The locations failing (or degraded) when the alert opened or, resolved, last did.
    locations: list[str]
    reason: str
    url: str


class LocationPayload(BaseModel):
    location: str
    team: str
    reason: str
    # The team's checks that run from the location and are left out of its quorum meanwhile.
    checks: list[str]
    url: str


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        ALERT_TRIGGERED,
        AlertPayload,
        "Enough healthy locations saw a check fail (page) or degrade (notify).",
    ),
    EventType(ALERT_RESOLVED, AlertPayload, "A check's alert resolved after it recovered."),
    EventType(
        LOCATION_UNHEALTHY,
        LocationPayload,
        "A location's workers fell silent or its canary failed; it is left out of quorums.",
    ),
)


def check_url(portal: PortalContext, *, team: Team, name: str) -> str:
    """The check's page, absolute, for messages and event payloads."""
    return f"{portal.settings.base_url.rstrip('/')}/t/{team.slug}/synthetics/checks/{name}"


def overview_url(portal: PortalContext, *, team: Team) -> str:
    """The team's synthetics overview, absolute."""
    return f"{portal.settings.base_url.rstrip('/')}/t/{team.slug}/synthetics"


def emit_alert(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    name: str,
    check: str,
    level: str,
    locations: Sequence[str],
    reason: str,
    at: datetime | None = None,
) -> Event:
    """Write an alert event (`name` is ALERT_TRIGGERED or ALERT_RESOLVED) in the caller's
    transaction."""
    payload = AlertPayload(
        check=check,
        team=team.slug,
        level=level,
        locations=sorted(locations),
        reason=reason,
        url=check_url(portal, team=team, name=check),
    )
    return core_events.emit(
        session, registry=portal.registry, team=team, name=name, payload=payload, at=at
    )


def emit_location_unhealthy(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    location: str,
    reason: str,
    checks: Sequence[str],
    at: datetime | None = None,
) -> Event:
    """Write a location-unhealthy event for one team in the caller's transaction."""
    payload = LocationPayload(
        location=location,
        team=team.slug,
        reason=reason,
        checks=sorted(checks),
        url=overview_url(portal, team=team),
    )
    return core_events.emit(
        session,
        registry=portal.registry,
        team=team,
        name=LOCATION_UNHEALTHY,
        payload=payload,
        at=at,
    )
