"""Alerting on stored runs: each run moves its location's state, then the check's locations
decide together whether the team is paged, notified, or told that the check recovered.

`record_run` runs in the transaction that stores the run, so a run, the state it moved, the
alert it opened, the page or notification it queued and the event it emitted are committed
together or not at all. The rules themselves live in `alerting` (pure functions); this
module reads and writes the rows around them and talks to core paging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opsyard.context import PortalContext
from opsyard.notifications import service as notifications
from opsyard.teams.models import Team
from opsyard_synthetics import alerting, events, locations, service
from opsyard_synthetics.alerting import AlertLevel, Decision, RunOutcome
from opsyard_synthetics.models import (
    NOTIFY,
    OPEN,
    PAGE,
    RESOLVED,
    Alert,
    Check,
    MaintenanceWindow,
    TeamSettings,
)
from opsyard_synthetics.models import LocationState as LocationStateRow

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Observed:
    """A stored run's outcome, as alerting needs it."""

    check: Check
    location: str
    outcome: str
    at: datetime


@dataclass
class _Batch:
    """What alerting reads for every run, read once for a batch of runs."""

    unhealthy: set[str]
    rules: dict[int, TeamSettings]
    windows: list[MaintenanceWindow]
    states: dict[tuple[int, str], LocationStateRow]

    @classmethod
    def read(cls, session: Session, runs: Sequence[Observed]) -> _Batch:
        team_ids = {run.check.team_id for run in runs}
        check_ids = {run.check.id for run in runs}
        windows = session.scalars(
            select(MaintenanceWindow).where(
                MaintenanceWindow.team_id.in_(team_ids),
                MaintenanceWindow.starts_at <= max(run.at for run in runs),
                MaintenanceWindow.ends_at > min(run.at for run in runs),
            )
        )
        states = session.scalars(
            select(LocationStateRow).where(LocationStateRow.check_id.in_(check_ids))
        )
        return cls(
            unhealthy=locations.unhealthy_locations(session),
            rules=service.settings_for_teams(session, team_ids=team_ids),
            windows=list(windows),
            states={(row.check_id, row.location): row for row in states},
        )

    def in_maintenance(self, check: Check, at: datetime) -> bool:
        return any(
            window.team_id == check.team_id
            and window.check_id in (None, check.id)
            and window.starts_at <= at < window.ends_at
            for window in self.windows
        )

    def states_of(self, check: Check) -> dict[str, alerting.LocationState]:
        wanted = set(check.locations) if check.locations is not None else None
        return {
            location: _as_state(row)
            for (check_id, location), row in self.states.items()
            if check_id == check.id and (wanted is None or location in wanted)
        }


def record_runs(
    session: Session, *, portal: PortalContext, runs: Sequence[Observed]
) -> list[Decision | None]:
    """Fold a batch of runs, stored in this transaction, into alerting, in order; returns
    each run's decision (None for a switched-off check), as `record_run` would.

    What every run needs (unhealthy locations, team rules, maintenance windows, the checks'
    location states) is read once for the batch. Most runs change no alert: an ok run of a
    healthy check moves its streak and nothing else. Only a run that changes its location's
    status, or after which the check's alert would change, takes the check's lock and is
    decided again under it by `record_run`, so two locations crossing the quorum at once
    still page once.
    """
    if not runs:
        return []
    batch = _Batch.read(session, runs)
    decisions: list[Decision | None] = []
    for run in runs:
        if not run.check.enabled:
            decisions.append(None)  # a switched-off check decides nothing, as in record_run
            continue
        decision = _quiet(session, batch, run)
        if decision is None:
            session.flush()  # the locked path rereads rows: this batch's changes go first
            decision = record_run(
                session,
                portal=portal,
                check=run.check,
                location=run.location,
                outcome=run.outcome,
                at=run.at,
                unhealthy=batch.unhealthy,
            )
        decisions.append(decision)
    session.flush()
    return decisions


def _quiet(session: Session, batch: _Batch, run: Observed) -> Decision | None:
    """Fold `run` into its location's state without the lock when that changes no status
    and no alert, and return the decision; None when the locked path has to decide."""
    check = run.check
    row = batch.states.get((check.id, run.location))
    rules = batch.rules[check.team_id]
    before = _as_state(row) if row is not None else alerting.initial_state(at=run.at)
    moved = _step(before, run.outcome, at=run.at, rules=rules)
    if moved.status != before.status:
        return None
    states = batch.states_of(check)
    if check.locations is None or run.location in check.locations:
        states[run.location] = moved
    decision = _decide(
        session,
        check,
        states,
        unhealthy=batch.unhealthy,
        in_maintenance=batch.in_maintenance(check, run.at),
    )
    if decision.action != "none" or decision.level != check.alert_level:
        return None
    if row is None:
        # The location's first run of the check, and an ok one: only this location's
        # runs write this row, so it needs no lock to be created either.
        row = LocationStateRow(check_id=check.id, location=run.location)
        session.add(row)
        batch.states[(check.id, run.location)] = row
    _store_state(row, moved)
    return decision


def record_run(
    session: Session,
    *,
    portal: PortalContext,
    check: Check,
    location: str,
    outcome: str,
    at: datetime,
    unhealthy: set[str] | None = None,
) -> Decision | None:
    """Fold a run's outcome into its location's state, decide the check's alert across its
    locations and act on it (open or resolve the alert, page or notify, emit the event);
    None when the check is switched off and nothing was decided. `unhealthy` is the set of
    unhealthy locations when the caller has read it already."""
    _lock_check(session, check)
    if not check.enabled:
        return None
    team = session.get(Team, check.team_id)
    assert team is not None  # the foreign key cascades: a check has its team
    rules = service.settings_for(session, team=team)
    row = _state_row(session, check_id=check.id, location=location, at=at)
    _store_state(row, _step(_as_state(row), outcome, at=at, rules=rules))
    session.flush()

    decision = _decide(
        session,
        check,
        _states_of(session, check),
        unhealthy=locations.unhealthy_locations(session) if unhealthy is None else unhealthy,
        in_maintenance=service.in_maintenance(session, check=check, at=at),
    )
    if decision.action == "trigger":
        _trigger(session, portal=portal, team=team, check=check, decision=decision, at=at)
    elif decision.action == "resolve":
        _resolve(session, portal=portal, team=team, check=check, decision=decision, at=at)
    elif decision.action == "keep":
        _follow(session, check=check, decision=decision)
    check.alert_level = decision.level
    session.flush()
    return decision


def _step(
    state: alerting.LocationState, outcome: str, *, at: datetime, rules: TeamSettings
) -> alerting.LocationState:
    return alerting.step(
        state,
        cast(RunOutcome, outcome),
        at=at,
        failure_threshold=rules.failure_threshold,
        success_threshold=rules.success_threshold,
    )


def _decide(
    session: Session,
    check: Check,
    states: dict[str, alerting.LocationState],
    *,
    unhealthy: set[str],
    in_maintenance: bool,
) -> Decision:
    """The check's alert decision over its locations' `states`; unhealthy locations have no
    say, here or in the parent's quorum."""
    return alerting.decide(
        states,
        healthy=[name for name in states if name not in unhealthy],
        quorum_failing=check.quorum_failing,
        quorum_of=check.quorum_of,
        critical=check.critical,
        in_maintenance=in_maintenance,
        parent_failing=_parent_failing(session, check, unhealthy=unhealthy),
        previous=cast(AlertLevel, check.alert_level),
    )


def open_alerts(session: Session, *, team_id: int) -> list[Alert]:
    """The team's open alerts, the most recent first."""
    query = (
        select(Alert)
        .where(Alert.team_id == team_id, Alert.status == OPEN)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    )
    return list(session.scalars(query))


def alert_history(session: Session, *, check_id: int, limit: int = HISTORY_LIMIT) -> list[Alert]:
    """A check's alerts, open and resolved, the most recent first."""
    query = (
        select(Alert)
        .where(Alert.check_id == check_id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def _lock_check(session: Session, check: Check) -> None:
    # Two locations' runs of one check finishing at once must not both see the quorum reached
    # and both trigger. An UPDATE of the check row is a lock on both backends: PostgreSQL
    # holds the row lock until commit, and SQLite takes its database write lock here (where
    # SELECT ... FOR UPDATE is ignored). Everything read below is read under the lock.
    session.execute(
        update(Check)
        .where(Check.id == check.id)
        .values(alert_level=Check.alert_level)
        .execution_options(synchronize_session=False)
    )
    # The check was loaded before the lock: the level another run stored since counts.
    session.refresh(check)


def _state_row(session: Session, *, check_id: int, location: str, at: datetime) -> LocationStateRow:
    row = session.get(LocationStateRow, (check_id, location), populate_existing=True)
    if row is None:
        first = alerting.initial_state(at=at)
        row = LocationStateRow(check_id=check_id, location=location)
        _store_state(row, first)
        session.add(row)
    return row


def _as_state(row: LocationStateRow) -> alerting.LocationState:
    return alerting.LocationState(
        status=cast(alerting.LocationStatus, row.status),
        failures=row.failures,
        successes=row.successes,
        since=row.since,
        degradations=row.degradations,
    )


def _store_state(row: LocationStateRow, state: alerting.LocationState) -> None:
    row.status = state.status
    row.failures = state.failures
    row.successes = state.successes
    row.degradations = state.degradations
    row.since = state.since


def _states_of(session: Session, check: Check) -> dict[str, alerting.LocationState]:
    """The states of the locations the check runs from (a location dropped from the check
    keeps its row until the check is deleted, but no longer has a say)."""
    query = select(LocationStateRow).where(LocationStateRow.check_id == check.id)
    rows = session.scalars(query.execution_options(populate_existing=True))
    wanted = set(check.locations) if check.locations is not None else None
    return {
        row.location: _as_state(row) for row in rows if wanted is None or row.location in wanted
    }


def _parent_failing(session: Session, check: Check, *, unhealthy: set[str]) -> bool:
    """Whether the check's parent is alerting, or has reached its failing quorum even if a
    silence or its own parent kept it from alerting: either way the child's failure is the
    parent's, and paging for both would wake someone twice for one outage."""
    if check.depends_on_id is None:
        return False
    parent = session.get(Check, check.depends_on_id, populate_existing=True)
    if parent is None:
        return False
    if parent.alert_level in (PAGE, NOTIFY):
        return True
    failing = [
        name
        for name, state in _states_of(session, parent).items()
        if name not in unhealthy and state.status == "failing"
    ]
    return len(failing) >= parent.quorum_failing


def _trigger(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    check: Check,
    decision: Decision,
    at: datetime,
) -> None:
    key = alerting.dedup_key(team.slug, check.name)
    alert = _open_alert(session, check_id=check.id)
    bad = _bad_locations(decision)
    if alert is None:
        alert = Alert(
            check_id=check.id,
            team_id=team.id,
            level=decision.level,
            status=OPEN,
            dedup_key=key,
            opened_at=at,
        )
        session.add(alert)
    # A notification escalated to a page keeps its alert: one outage, one alert.
    alert.level = decision.level
    alert.reason = decision.reason
    alert.failing_locations = bad
    url = events.check_url(portal, team=team, name=check.name)
    details: dict[str, Any] = {
        "check": check.name,
        "failing_locations": list(decision.failing_locations),
        "degraded_locations": list(decision.degraded_locations),
        "considered_locations": list(decision.considered),
        "url": url,
    }
    if decision.level == PAGE:
        notifications.page_oncall(
            session,
            team=team,
            summary=f"Synthetic check {check.name} is failing",
            severity="critical",
            dedup_key=key,
            body=f"{decision.reason}.\n{url}",
            details=details,
            source=f"opsyard/{team.slug}/synthetics",
            at=at,
        )
    else:
        notifications.notify(
            session,
            team=team,
            summary=f"Synthetic check {check.name} is degraded",
            severity="warning",
            body=f"{decision.reason}.\n{url}",
            details=details,
            dedup_key=key,
            source=f"opsyard/{team.slug}/synthetics",
            at=at,
        )
    events.emit_alert(
        session,
        portal=portal,
        team=team,
        name=events.ALERT_TRIGGERED,
        check=check.name,
        level=decision.level,
        locations=bad,
        reason=decision.reason,
        at=at,
    )


def _follow(session: Session, *, check: Check, decision: Decision) -> None:
    # The open alert shows where the check fails now, so the page and the resolve event
    # name the locations that last failed rather than the first two.
    alert = _open_alert(session, check_id=check.id)
    if alert is not None:
        alert.failing_locations = _bad_locations(decision)
        alert.reason = decision.reason


def _bad_locations(decision: Decision) -> list[str]:
    return sorted(decision.failing_locations + decision.degraded_locations)


def _resolve(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    check: Check,
    decision: Decision,
    at: datetime,
) -> None:
    key = alerting.dedup_key(team.slug, check.name)
    alert = _open_alert(session, check_id=check.id)
    level = alert.level if alert is not None else check.alert_level
    url = events.check_url(portal, team=team, name=check.name)
    # `decide` resolves only an alert at notify or page, which `level` is.
    # Resolving a page that is not open changes nothing in core, so the page is resolved
    # whatever the level: a notification escalated to a page and eased back is still open.
    notifications.page_oncall(
        session,
        team=team,
        summary=f"Synthetic check {check.name} recovered",
        severity="critical",
        dedup_key=key,
        action="resolve",
        body=f"{decision.reason}.\n{url}",
        details={"check": check.name, "url": url},
        source=f"opsyard/{team.slug}/synthetics",
        at=at,
    )
    if level == NOTIFY:
        notifications.notify(
            session,
            team=team,
            summary=f"Synthetic check {check.name} recovered",
            severity="info",
            body=f"{decision.reason}.\n{url}",
            details={"check": check.name, "url": url},
            dedup_key=key,
            source=f"opsyard/{team.slug}/synthetics",
            at=at,
        )
    last_bad: Sequence[str] = ()
    if alert is not None:
        last_bad = alert.failing_locations
        alert.status = RESOLVED
        alert.resolved_at = at
    events.emit_alert(
        session,
        portal=portal,
        team=team,
        name=events.ALERT_RESOLVED,
        check=check.name,
        level=level,
        locations=last_bad,
        reason=decision.reason,
        at=at,
    )


def _open_alert(session: Session, *, check_id: int) -> Alert | None:
    query = (
        select(Alert)
        .where(Alert.check_id == check_id, Alert.status == OPEN)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    return session.scalar(query)
