"""The public status page at /status/{team}, shown without login when a team switches it on.

It says only what a customer may know: each enabled check's name, a short state
(operational, degraded, down) and how the last 24 hours went, hour by hour. No URL, no
response, no reason and no location name: those describe the team's internals. A team that
does not exist, has the plugin off or has not switched the page on gets the same 404, so
the page does not even tell whether a team exists.

Core mounts it through the ``opsyard.app`` entry point (`install`), outside the team routes,
because those require a signed-in member.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from jinja2 import Environment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import OpsyardError
from opsyard.teams import service as teams
from opsyard_synthetics import locations
from opsyard_synthetics.models import DEGRADED, ERROR, FAILING, OK, Check, Rollup, Run
from opsyard_web.responses import html_response
from opsyard_web.templating import ENVIRONMENT_STATE

PLUGIN = "synthetics"
HOURS_SHOWN = 24

PublicState = Literal["operational", "degraded", "down", "unknown"]
STATE_LABELS: dict[str, str] = {
    "operational": "Operational",
    "degraded": "Degraded",
    "down": "Down",
    "unknown": "No data",
}

router = APIRouter()


def install(app: FastAPI, ctx: PortalContext) -> None:
    """Called by core after its own routes exist; adds the page when the plugin is loaded."""
    if PLUGIN in ctx.registry.names:
        app.include_router(router, include_in_schema=False)


# -- reading the state --------------------------------------------------------------------


def latest_runs(session: Session, *, check_ids: Collection[int]) -> dict[int, dict[str, Run]]:
    """The newest run of each check from each location: {check id: {location: run}}."""
    if not check_ids:
        return {}
    newest = (
        select(Run.check_id, Run.location, func.max(Run.started_at).label("started_at"))
        .where(Run.check_id.in_(check_ids))
        .group_by(Run.check_id, Run.location)
        .subquery()
    )
    rows = session.scalars(
        select(Run)
        .join(
            newest,
            (Run.check_id == newest.c.check_id)
            & (Run.location == newest.c.location)
            & (Run.started_at == newest.c.started_at),
        )
        .order_by(Run.id)
    )
    found: dict[int, dict[str, Run]] = {}
    for run in rows:
        # Two runs at the same instant: the later row wins.
        found.setdefault(run.check_id, {})[run.location] = run
    return found


def public_state(
    check: Check, latest: Mapping[str, Run], healthy: Collection[str] | None
) -> PublicState:
    """The check's state as its latest runs from healthy locations show it.

    Down when at least the check's failing quorum of them failed (capped at how many there
    are), degraded when any of them was slow or failed, operational when all were fine. An
    `error` run (the check could not run: our side) and an unhealthy location say nothing
    about the target, so they are left out; with nothing left the state is unknown.
    """
    outcomes = [
        run.outcome
        for location, run in latest.items()
        if (healthy is None or location in healthy) and run.outcome != ERROR
    ]
    if not outcomes:
        return "unknown"
    failing = sum(1 for outcome in outcomes if outcome == FAILING)
    if failing and failing >= min(check.quorum_failing, len(outcomes)):
        return "down"
    if any(outcome != OK for outcome in outcomes):
        return "degraded"
    return "operational"


@dataclass(frozen=True)
class Hour:
    """One hour of a check's runs, from every location."""

    start: datetime
    ok: int = 0
    degraded: int = 0
    failing: int = 0

    @property
    def runs(self) -> int:
        return self.ok + self.degraded + self.failing

    @property
    def state(self) -> PublicState:
        # More than half of the hour's runs failing is an outage; any trouble is degraded.
        if not self.runs:
            return "unknown"
        if self.failing * 2 > self.runs:
            return "down"
        if self.failing or self.degraded:
            return "degraded"
        return "operational"


def _hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def hourly(
    session: Session, *, check_ids: Collection[int], now: datetime, hours: int = HOURS_SHOWN
) -> dict[int, list[Hour]]:
    """The last `hours` UTC hours of each check (oldest first), the current one included.

    Hours already rolled up come from the roll-ups; the others (the current hour, and any
    not rolled up yet) are counted from the raw runs. `error` runs are not counted: they
    describe our side, not the target.
    """
    first = _hour_of(now) - timedelta(hours=hours - 1)
    counts: dict[tuple[int, datetime], list[int]] = {}
    rolled: set[tuple[int, datetime]] = set()
    if check_ids:
        for rollup in session.scalars(
            select(Rollup).where(Rollup.check_id.in_(check_ids), Rollup.hour >= first)
        ):
            key = (rollup.check_id, _hour_of(rollup.hour))
            rolled.add(key)
            total = counts.setdefault(key, [0, 0, 0])
            total[0] += rollup.ok
            total[1] += rollup.degraded
            total[2] += rollup.failing
        for check_id, started_at, outcome in session.execute(
            select(Run.check_id, Run.started_at, Run.outcome).where(
                Run.check_id.in_(check_ids), Run.started_at >= first, Run.started_at <= now
            )
        ):
            key = (check_id, _hour_of(started_at))
            if key in rolled or outcome not in (OK, DEGRADED, FAILING):
                continue
            total = counts.setdefault(key, [0, 0, 0])
            total[(OK, DEGRADED, FAILING).index(outcome)] += 1
    starts = [first + timedelta(hours=index) for index in range(hours)]
    return {
        check_id: [Hour(start, *counts.get((check_id, start), (0, 0, 0))) for start in starts]
        for check_id in check_ids
    }


def availability(hours: Iterable[Hour]) -> float | None:
    """The share of counted runs that reached the target (ok or degraded), None without runs."""
    runs = working = 0
    for hour in hours:
        runs += hour.runs
        working += hour.ok + hour.degraded
    return working / runs if runs else None


@dataclass(frozen=True)
class StatusLine:
    name: str
    state: PublicState
    hours: Sequence[Hour]
    availability: float | None

    @property
    def summary(self) -> str:
        """The 24 hours in words, for readers who do not see the coloured strip."""
        counted = {state: 0 for state in STATE_LABELS}
        for hour in self.hours:
            counted[hour.state] += 1
        parts = [
            f"{count} {STATE_LABELS[state].lower()}"
            for state, count in counted.items()
            if count and state != "unknown"
        ]
        if counted["unknown"]:
            parts.append(f"{counted['unknown']} without data")
        return f"Last {len(self.hours)} hours: " + ", ".join(parts) + "."


def overall(lines: Sequence[StatusLine]) -> PublicState:
    """The team's headline: the worst state of its checks that have data."""
    states = {line.state for line in lines}
    worst_first: tuple[PublicState, ...] = ("down", "degraded", "operational")
    return next((state for state in worst_first if state in states), "unknown")


def status_lines(session: Session, *, team_id: int, now: datetime) -> list[StatusLine]:
    """Every enabled check of the team with its public state and last 24 hours, by name."""
    checks = list(
        session.scalars(
            select(Check)
            .where(Check.team_id == team_id, Check.enabled.is_(True))
            .order_by(Check.name)
        )
    )
    ids = [check.id for check in checks]
    latest = latest_runs(session, check_ids=ids)
    healthy = locations.healthy_locations(session, at=now)
    history = hourly(session, check_ids=ids, now=now)
    return [
        StatusLine(
            name=check.name,
            state=public_state(check, latest.get(check.id, {}), healthy or None),
            hours=history[check.id],
            availability=availability(history[check.id]),
        )
        for check in checks
    ]


# -- the page -----------------------------------------------------------------------------


@router.get("/status/{slug}")
def status_page(request: Request, slug: str, session: DbSession) -> Response:
    from opsyard_synthetics import service

    team = teams.get_by_slug(session, slug)
    shown = (
        team is not None
        and teams.is_enabled(session, team, PLUGIN)
        and service.settings_for(session, team=team).public_status_page
    )
    if not shown or team is None:
        raise OpsyardError(errors.NOT_FOUND, "There is no public status page here.")
    now = utcnow()
    lines = status_lines(session, team_id=team.id, now=now)
    context = {
        "public_team": team,
        "lines": lines,
        "overall": overall(lines),
        "labels": STATE_LABELS,
        "now": now,
    }
    # Rendered without the shell's chrome: the page is the same for everyone, signed in or
    # not, and carries no name, team switcher or token of whoever looks at it.
    environment: Environment = getattr(request.app.state, ENVIRONMENT_STATE)
    body = environment.get_template("synthetics/status.html").render(context)
    return html_response(body)
