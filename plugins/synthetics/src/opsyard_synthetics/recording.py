"""Storing finished runs: the Run rows, their Schedule rows moved on, and alerting.

Runs are stored in batches, one transaction each, with bulk statements: a location runs
hundreds of checks a second, and a transaction per run cannot keep up with that. Within the
transaction the claimed Schedule rows are locked first; a row whose claim was lost (its
lease ran out and another worker took it) gets no Run from here. If a batch cannot be
stored, its runs are stored one by one, so one run that cannot be stored does not lose the
others; the rows of runs that still fail stay claimed and run again once their lease ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard_synthetics import alerting_service, slots
from opsyard_synthetics.claims import DueRun
from opsyard_synthetics.models import Check, Run, Schedule
from opsyard_synthetics.runner import RunResult, StepResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """A run that is ready to store: what was claimed, what it saw, and when it started."""

    due: DueRun
    result: RunResult
    started_at: datetime


def store_runs(portal: PortalContext, *, location: str, finished: Sequence[Finished]) -> int:
    """Store `finished` (runs from `location`) and fold them into alerting; returns how many
    were stored. Raises the first failure once every run has been tried."""
    if not finished:
        return 0
    try:
        with session_scope(portal.sessions) as session:
            return _store(session, portal=portal, location=location, finished=finished)
    except Exception:
        if len(finished) == 1:
            raise
        log.warning(
            "synthetics: storing %d runs together failed; storing them one by one",
            len(finished),
            exc_info=True,
        )
    stored = 0
    failure: Exception | None = None
    for item in finished:
        try:
            with session_scope(portal.sessions) as session:
                stored += _store(session, portal=portal, location=location, finished=[item])
        except Exception as exc:
            log.exception("synthetics: storing the run of check %s failed", item.due.check_id)
            failure = failure or exc
    if failure is not None:
        raise failure
    return stored


def _store(
    session: Session, *, portal: PortalContext, location: str, finished: Sequence[Finished]
) -> int:
    held = _lock_claimed(session, finished)
    kept = sorted(
        (item for item in finished if item.due.schedule_id in held),
        key=lambda item: item.started_at,
    )
    if not kept:
        return 0
    checks = {
        check.id: check
        for check in session.scalars(
            select(Check).where(Check.id.in_({item.due.check_id for item in kept}))
        )
    }
    kept = [item for item in kept if item.due.check_id in checks]  # deleted while it ran
    if not kept:
        return 0
    session.execute(
        update(Schedule),
        [_moved_schedule(item, checks[item.due.check_id]) for item in kept],
    )
    session.execute(
        insert(Run),
        [_run_row(item, checks[item.due.check_id], location) for item in kept],
    )
    alerting_service.record_runs(
        session,
        portal=portal,
        runs=[
            alerting_service.Observed(
                check=checks[item.due.check_id],
                location=location,
                outcome=item.result.outcome,
                at=item.started_at,
            )
            for item in kept
        ],
    )
    return len(kept)


def _lock_claimed(session: Session, finished: Sequence[Finished]) -> set[int]:
    """Lock the runs' Schedule rows and return those still claimed by the claim that ran
    them. A no-op UPDATE locks on both backends: PostgreSQL takes the row locks, SQLite its
    write lock, so no claim can take a row between this check and the writes below."""
    tokens = {item.due.schedule_id: item.due.token for item in finished}
    rows = session.execute(
        update(Schedule)
        .where(Schedule.id.in_(tokens))
        .values(claimed_by=Schedule.claimed_by)
        .returning(Schedule.id, Schedule.claimed_by)
        .execution_options(synchronize_session=False)
    )
    return {row_id for row_id, claimed_by in rows if claimed_by == tokens[row_id]}


def _moved_schedule(item: Finished, check: Check) -> dict[str, Any]:
    return {
        "id": item.due.schedule_id,
        "next_slot_at": slots.next_slot_after(
            item.due.slot_at, interval=check.interval_seconds, offset=check.offset_seconds
        ),
        "last_slot_at": item.due.slot_at,
        "claimed_by": None,
        "claimed_until": None,
    }


def _run_row(item: Finished, check: Check, location: str) -> dict[str, Any]:
    result = item.result
    return {
        "check_id": check.id,
        "team_id": check.team_id,
        "location": location,
        "slot_at": item.due.slot_at,
        "started_at": item.started_at,
        "duration_ms": result.duration_ms,
        "lag_ms": slots.lag_ms(item.due.slot_at, item.started_at),
        "missed_slots": item.due.missed,
        "outcome": result.outcome,
        "reason": result.reason or "",
        "steps": stored_steps(result),
    }


def stored_steps(result: RunResult) -> list[dict[str, Any]]:
    """The steps of a run as stored on its Run row (already redacted by the runner)."""
    return [_stored_step(step) for step in result.steps]


def _stored_step(step: StepResult) -> dict[str, Any]:
    document = {
        "name": step.name,
        "outcome": step.outcome,
        "reason": step.reason,
        "status": step.status,
        "url": step.url,
        "timings": step.timings.as_dict(),
        "assertions": [
            {
                "expression": item.expression,
                "passed": item.passed,
                "actual": item.actual,
                "message": item.message,
                "error": item.error,
                "part": item.part,
            }
            for item in step.assertions
        ],
        "excerpt": step.excerpt,
        "response_headers": [[name, value] for name, value in step.response_headers],
        "extracted": list(step.extracted),
        "auth_ms": step.auth_ms,
        "cert_days_left": step.cert_days_left,
        "details": step.details,
    }
    # Assertion values can be any JSON value the target sent, or something it cannot be
    # (bytes, a datetime); the round trip keeps what JSON can hold and spells out the rest.
    loaded: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return loaded
