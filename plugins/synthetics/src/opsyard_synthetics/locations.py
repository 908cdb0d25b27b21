"""The registry of probing locations, their heartbeats, canaries and health.

A location is known when it is configured (``OPSYARD_LOCATIONS``, else this process's
``OPSYARD_LOCATION``) or when one of its workers has reported in. Each location's workers
write a heartbeat and run a canary (a check of a target that should always be up, the portal's
own ``/livez`` by default) every 30 seconds. A location whose heartbeat is older than 90
seconds, or whose canary failed, is unhealthy: its results say more about the location than
about the targets, so it is left out of every quorum until both are fine again.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext
from opsyard.jobs.service import fan_out_locations
from opsyard.teams.models import Team, TeamPlugin
from opsyard_synthetics import events, execution
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Check, Location, Schedule
from opsyard_synthetics.models import LocationState as LocationStateRow
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.runner import run_check

PLUGIN = "synthetics"
HEARTBEAT_TIMEOUT = timedelta(seconds=90)
CANARY_NAME = "canary"
CANARY_TIMEOUT_SECONDS = 5.0


class SyntheticsSettings(BaseSettings):
    """The plugin's own settings (prefix ``OPSYARD_SYNTHETICS_``)."""

    model_config = SettingsConfigDict(env_prefix="OPSYARD_SYNTHETICS_", extra="ignore")

    canary_url: str = Field(
        default="",
        description="What every location checks to tell its own faults from the targets' "
        "(an http(s) URL, or tcp://host:port for a connect). Empty: the portal's /livez.",
    )


@dataclass(frozen=True)
class CanaryResult:
    """Whether a location's canary passed, and why not."""

    ok: bool
    reason: str | None


def known(session: Session, *, settings: Settings | None = None) -> list[str]:
    """Every location in the registry, sorted: the configured ones (from `settings`, else the
    process's settings) and every one that has reported in."""
    configured = fan_out_locations(settings or get_settings())
    reported = session.scalars(select(Location.name))
    return sorted(set(configured) | set(reported))


def healthy_locations(session: Session, *, at: datetime) -> set[str]:
    """The locations whose results count in a quorum at `at`: every location that is
    configured, has reported, or has results, except those the health job marked unhealthy."""
    del at  # health is judged by the health job, which runs as of its own instant
    names = set(known(session))
    names.update(session.scalars(select(Schedule.location).distinct()))
    names.update(session.scalars(select(LocationStateRow.location).distinct()))
    return names - unhealthy_locations(session)


def unhealthy_locations(session: Session) -> set[str]:
    """The locations the health job marked unhealthy: their results count in no quorum."""
    return set(session.scalars(select(Location.name).where(Location.healthy.is_(False))))


def record_heartbeat(session: Session, *, location: str, by: str, at: datetime) -> Location:
    """Note that a worker of `location` (`by`: host and process) is alive at `at`."""
    row = _location(session, location, at=at)
    # Heartbeats of one location's workers may arrive out of order; keep the latest.
    if row.last_heartbeat_at is None or row.last_heartbeat_at < at:
        row.last_heartbeat_at = at
        row.heartbeat_by = by[:255]
    session.flush()
    return row


def record_canary(
    session: Session, *, location: str, result: CanaryResult, at: datetime
) -> Location:
    """Store the outcome of `location`'s canary at `at`."""
    row = _location(session, location, at=at)
    row.canary_ok = result.ok
    row.canary_reason = None if result.ok else result.reason
    row.canary_checked_at = at
    session.flush()
    return row


def worker_name() -> str:
    """This process, as a heartbeat names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def canary_definition(portal: PortalContext) -> CheckDefinition:
    """The canary as a check: a TCP connect for ``tcp://host:port``, else an HTTP GET that
    expects a healthy status."""
    url = SyntheticsSettings().canary_url or (portal.settings.base_url.rstrip("/") + "/livez")
    if url.startswith("tcp://"):
        host, _, port = url.removeprefix("tcp://").rstrip("/").rpartition(":")
        return CheckDefinition.model_validate(
            {
                "name": CANARY_NAME,
                "kind": "tcp",
                "tcp": {
                    "host": host.strip("[]"),
                    "port": int(port),
                    "timeout_s": CANARY_TIMEOUT_SECONDS,
                },
            }
        )
    return CheckDefinition.model_validate(
        {
            "name": CANARY_NAME,
            "kind": "http",
            "steps": [{"url": url, "timeout_s": CANARY_TIMEOUT_SECONDS}],
        }
    )


def run_canary(portal: PortalContext, *, location: str) -> CanaryResult:
    """Run the canary from `location`. It is configured by the operator, not a team, so it may
    reach private addresses (the portal itself, by default)."""
    try:
        definition = canary_definition(portal)
    except ValueError as exc:
        return CanaryResult(ok=False, reason=f"the canary is misconfigured: {exc}")
    result = asyncio.run(
        run_check(definition, location=location, secrets={}, client=ProbeClient(location=location))
    )
    if result.outcome in ("ok", "degraded"):
        return CanaryResult(ok=True, reason=None)
    return CanaryResult(ok=False, reason=f"canary {result.outcome}: {result.reason}")


def heartbeat(portal: PortalContext, *, location: str, at: datetime) -> Location:
    """A worker's beat: record that it is alive, then run and record the canary."""
    with portal.sessions.begin() as session:
        record_heartbeat(session, location=location, by=worker_name(), at=at)
        # A location reporting for the first time starts running the checks that run
        # everywhere; for the others this finds nothing to add.
        execution.cover_location(session, location=location, now=at)
    result = run_canary(portal, location=location)
    with portal.sessions.begin() as session:
        return record_canary(session, location=location, result=result, at=at)


def update_health(portal: PortalContext, *, at: datetime) -> list[str]:
    """Mark locations unhealthy or healthy again as of `at`; emits
    synthetics.location.unhealthy once per change, to each team with checks there. Returns
    the locations that turned unhealthy."""
    turned: list[str] = []
    with portal.sessions.begin() as session:
        for name in known(session, settings=portal.settings):
            _location(session, name, at=at)
        for row in session.scalars(select(Location).order_by(Location.name)).all():
            reason = unhealthy_reason(row, at=at)
            if reason is not None and _flip(session, row, healthy=False, reason=reason, at=at):
                turned.append(row.name)
                _announce(session, portal=portal, location=row.name, reason=reason, at=at)
            elif reason is None:
                _flip(session, row, healthy=True, reason=None, at=at)
    return turned


def unhealthy_reason(row: Location, *, at: datetime) -> str | None:
    """Why `row` is unhealthy at `at`, or None when its heartbeat and canary are fine. A
    location that never reported is given the heartbeat timeout from when it was registered."""
    last = row.last_heartbeat_at or row.changed_at
    if at - last > HEARTBEAT_TIMEOUT:
        if row.last_heartbeat_at is None:
            return "its workers have not reported since it was registered"
        silent = int((at - row.last_heartbeat_at).total_seconds())
        return f"its workers have been silent for {silent} s"
    if not row.canary_ok:
        return row.canary_reason or "its canary check failed"
    return None


def _flip(
    session: Session, row: Location, *, healthy: bool, reason: str | None, at: datetime
) -> bool:
    # A conditional UPDATE: when two health runs overlap, only one of them sees the change,
    # so the event is emitted once.
    changed = session.execute(
        update(Location)
        .where(Location.name == row.name, Location.healthy.is_(not healthy))
        .values(healthy=healthy, unhealthy_reason=reason, changed_at=at)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return bool(getattr(changed, "rowcount", 0))


def _announce(
    session: Session, *, portal: PortalContext, location: str, reason: str, at: datetime
) -> None:
    rows = session.execute(
        select(Team, Check.name)
        .join(Check, Check.team_id == Team.id)
        .join(Schedule, Schedule.check_id == Check.id)
        .join(TeamPlugin, (TeamPlugin.team_id == Team.id) & (TeamPlugin.plugin == PLUGIN))
        .where(Schedule.location == location, Check.enabled.is_(True))
        .order_by(Team.id, Check.name)
    ).all()
    checks: dict[int, list[str]] = {}
    teams: dict[int, Team] = {}
    for team, name in rows:
        teams[team.id] = team
        checks.setdefault(team.id, []).append(name)
    for team_id, names in checks.items():
        events.emit_location_unhealthy(
            session,
            portal=portal,
            team=teams[team_id],
            location=location,
            reason=reason,
            checks=names,
            at=at,
        )


def _location(session: Session, name: str, *, at: datetime) -> Location:
    row = session.get(Location, name)
    if row is not None:
        return row
    try:
        # Two workers of a new location may register it at once; the loser reads the winner's.
        with session.begin_nested():
            row = Location(name=name, changed_at=at)
            session.add(row)
    except IntegrityError:
        row = session.get(Location, name, populate_existing=True)
        assert row is not None
    return row
