"""Running a location's due checks and storing their runs.

Each check has one Schedule row per location it runs from. A location's run job claims the
rows that are due, runs only the latest due slot of each (skipped slots are counted on the
run, never replayed), stores the Run and hands the outcome to alerting in the same
transaction, then moves the row to the next slot of the check's fixed grid.

The checks of one claim run concurrently on one event loop: a probe spends its time waiting
on the network, so a hundred of them cost little more than the slowest one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from opsyard import net
from opsyard.config import Settings
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.teams.models import TeamPlugin
from opsyard_synthetics import alerting_service, service, slots
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Check, Run, Schedule
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.runner import Outcome, RunResult, StepResult, run_check

log = logging.getLogger(__name__)

PLUGIN = "synthetics"
# The run job fires every 10 s with a time limit below that; a run gets at most this long,
# which leaves time to claim before and store after. A target that has not answered by then
# is failing from here, whatever longer timeout its check allows.
RUN_BUDGET_SECONDS = 7.0
# How many checks one location probes at once.
MAX_CONCURRENCY = 100
# A claim outlives the job's time limit, so a worker that died mid-run leaves its rows to be
# claimed again soon, and a live one is never overtaken.
CLAIM_LEASE = timedelta(seconds=60)

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Due:
    """One claimed (check, location) whose latest due slot is to run."""

    schedule_id: int
    check_id: int
    slot_at: datetime
    missed: int
    definition: CheckDefinition | None
    problem: str | None
    secrets: dict[str, str]


def sync_schedules(
    session: Session, *, check: Check, locations: Sequence[str], now: datetime
) -> None:
    """Make the check's Schedule rows match where it runs: its own `locations`, or every
    location in `locations` (the registry) when it names none. Flushes, does not commit."""
    wanted = set(check.locations) if check.locations is not None else set(locations)
    session.flush()  # a new check needs its id
    rows = {
        row.location: row
        for row in session.scalars(select(Schedule).where(Schedule.check_id == check.id))
    }
    gone = [name for name in rows if name not in wanted]
    if gone:
        session.execute(
            delete(Schedule).where(Schedule.check_id == check.id, Schedule.location.in_(gone))
        )
    for name in sorted(wanted):
        # The next slot on the check's grid: an interval or offset change moves it at once,
        # and an unchanged check keeps the slot it already had.
        next_slot = slots.next_slot_after(
            now, interval=check.interval_seconds, offset=check.offset_seconds
        )
        row = rows.get(name)
        if row is None:
            session.add(Schedule(check_id=check.id, location=name, next_slot_at=next_slot))
        elif not _on_grid(row.next_slot_at, check) or row.next_slot_at > next_slot:
            row.next_slot_at = next_slot
    session.flush()


def _on_grid(at: datetime, check: Check) -> bool:
    """Whether `at` is one of the check's slots (false after its interval or offset changed)."""
    slot = slots.slot_at_or_before(at, interval=check.interval_seconds, offset=check.offset_seconds)
    return slot == at


def run_due(
    portal: PortalContext,
    *,
    location: str,
    at: datetime,
    limit: int,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> int:
    """Run the checks due at `location` as of `at` (at most `limit`), store a Run for each and
    fold it into alerting; returns how many runs were stored."""
    token = f"{uuid.uuid4().hex[:16]}@{location}"[:64]
    wall = utcnow()
    with session_scope(portal.sessions) as session:
        claimed = _claim(session, location=location, at=at, token=token, limit=limit)
        due = _prepare(session, claimed, at=at) if claimed else []
    if not due:
        return 0
    client = ProbeClient(location=location, address_allowed=address_guard(portal.settings))
    results = _run_loop(
        _run_all(
            due,
            location=location,
            client=client,
            concurrency=min(limit, MAX_CONCURRENCY),
            budget_seconds=budget_seconds,
        )
    )
    stored = 0
    failure: Exception | None = None
    for item, result in zip(due, results, strict=True):
        # Times on the job's clock: `at` is when the job runs as of, so a replay stores the
        # same lags as the original run would have.
        started_at = at + (result.started_at - wall)
        try:
            with session_scope(portal.sessions) as session:
                stored += _store(
                    session,
                    portal=portal,
                    item=item,
                    result=result,
                    location=location,
                    started_at=started_at,
                    at=at,
                    token=token,
                )
        except Exception as exc:
            # One run that cannot be stored must not lose the others; its row stays claimed
            # and runs again when the lease ends. The job still fails, so it is seen.
            log.exception("synthetics: storing the run of check %s failed", item.check_id)
            failure = failure or exc
    if failure is not None:
        raise failure
    return stored


def address_guard(settings: Settings) -> Callable[[str], bool] | None:
    """What a location's probes may connect to: public addresses only, unless the operator
    allows private targets."""
    if settings.allow_private_targets:
        return None
    return public_address


def public_address(address: str) -> bool:
    """Whether `address` (an IP address) is on the public internet, by core's guard."""
    host = f"[{address}]" if ":" in address else address
    try:
        net.check_target(f"http://{host}/", allow_private=False)
    except OpsyardError:
        return False
    return True


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


def _claim(session: Session, *, location: str, at: datetime, token: str, limit: int) -> list[int]:
    """Claim up to `limit` of the location's due rows, oldest first; commits. PostgreSQL skips
    rows another worker is claiming; SQLite serialises writers, and the repeated conditions
    make a row claimed in between drop out."""
    free = or_(Schedule.claimed_until.is_(None), Schedule.claimed_until <= at)
    due = (
        select(Schedule.id)
        .where(Schedule.location == location, Schedule.next_slot_at <= at, free)
        .order_by(Schedule.next_slot_at, Schedule.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = sorted(
        session.scalars(
            update(Schedule)
            .where(Schedule.id.in_(due.scalar_subquery()), Schedule.next_slot_at <= at, free)
            .values(claimed_until=at + CLAIM_LEASE, claimed_by=token)
            .returning(Schedule.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    return claimed


def _prepare(session: Session, claimed: Sequence[int], *, at: datetime) -> list[_Due]:
    """What to run for the claimed rows. Rows of disabled checks, of teams that switched the
    plugin off, or with no slot due after all move on to their next slot without a run."""
    rows = session.execute(
        select(Schedule, Check, TeamPlugin.team_id)
        .join(Check, Check.id == Schedule.check_id)
        .outerjoin(
            TeamPlugin, and_(TeamPlugin.team_id == Check.team_id, TeamPlugin.plugin == PLUGIN)
        )
        .where(Schedule.id.in_(claimed))
        .order_by(Schedule.next_slot_at, Schedule.id)
    ).all()
    secrets: dict[int, dict[str, str]] = {}
    due: list[_Due] = []
    for schedule, check, plugin_on in rows:
        interval, offset = check.interval_seconds, check.offset_seconds
        missed = slots.missed_slots(
            schedule.next_slot_at - timedelta(seconds=interval),
            at,
            interval=interval,
            offset=offset,
        )
        if not check.enabled or plugin_on is None or missed.latest is None:
            schedule.next_slot_at = slots.next_slot_after(at, interval=interval, offset=offset)
            schedule.claimed_by = schedule.claimed_until = None
            continue
        if check.team_id not in secrets:
            secrets[check.team_id] = service.secrets_for(session, team_id=check.team_id)
        definition, problem = _definition(check)
        due.append(
            _Due(
                schedule_id=schedule.id,
                check_id=check.id,
                slot_at=missed.latest,
                missed=missed.count,
                definition=definition,
                problem=problem,
                secrets=secrets[check.team_id],
            )
        )
    return due


def _definition(check: Check) -> tuple[CheckDefinition | None, str | None]:
    try:
        return CheckDefinition.model_validate(check.definition), None
    except ValidationError as exc:
        # Only a stored definition from an older release could get here; say so on the run
        # instead of blocking the location's other checks.
        return None, f"error: the stored check is not valid: {exc.errors()[0]['msg']}"


async def _run_all(
    due: Sequence[_Due],
    *,
    location: str,
    client: ProbeClient,
    concurrency: int,
    budget_seconds: float,
) -> list[RunResult]:
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(item: _Due) -> RunResult:
        async with semaphore:
            started_at, started = datetime.now(UTC), perf_counter()
            if item.definition is None:
                return _result(item, location, "error", item.problem, started_at, started)
            try:
                return await asyncio.wait_for(
                    run_check(
                        item.definition, location=location, secrets=item.secrets, client=client
                    ),
                    timeout=budget_seconds,
                )
            except TimeoutError:
                reason = (
                    f"no result within {budget_seconds:g} s, the longest a run may take "
                    "at this location"
                )
                return _result(item, location, "failing", reason, started_at, started)

    return list(await asyncio.gather(*(one(item) for item in due)))


def _result(
    item: _Due, location: str, outcome: Outcome, reason: str | None, at: datetime, started: float
) -> RunResult:
    name = item.definition.name if item.definition is not None else str(item.check_id)
    return RunResult(
        check=name,
        location=location,
        outcome=outcome,
        reason=reason,
        steps=[],
        started_at=at,
        duration_ms=(perf_counter() - started) * 1000,
    )


def _run_loop(coroutine: Awaitable[_T]) -> _T:
    """Run `coroutine` on a fresh event loop, uvloop's when it is installed."""

    async def main() -> _T:
        return await coroutine

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional in spirit
        return asyncio.run(main())
    return uvloop.run(main())


def _store(
    session: Session,
    *,
    portal: PortalContext,
    item: _Due,
    result: RunResult,
    location: str,
    started_at: datetime,
    at: datetime,
    token: str,
) -> int:
    """Store one run, fold it into alerting and move its row on, all in one transaction;
    0 when the claim was lost (its lease ran out and another worker took the row)."""
    check = session.get(Check, item.check_id)
    if check is None:  # deleted while it ran
        return 0
    moved = session.execute(
        update(Schedule)
        .where(Schedule.id == item.schedule_id, Schedule.claimed_by == token)
        .values(
            next_slot_at=slots.next_slot_after(
                max(at, item.slot_at),
                interval=check.interval_seconds,
                offset=check.offset_seconds,
            ),
            last_slot_at=item.slot_at,
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return 0
    session.add(
        Run(
            check_id=check.id,
            team_id=check.team_id,
            location=location,
            slot_at=item.slot_at,
            started_at=started_at,
            duration_ms=result.duration_ms,
            lag_ms=slots.lag_ms(item.slot_at, started_at),
            missed_slots=item.missed,
            outcome=result.outcome,
            reason=result.reason or "",
            steps=stored_steps(result),
        )
    )
    session.flush()
    alerting_service.record_run(
        session,
        portal=portal,
        check=check,
        location=location,
        outcome=result.outcome,
        at=started_at,
    )
    return 1


def cover_location(session: Session, *, location: str, now: datetime) -> int:
    """Give every check that runs from all locations a schedule at `location` (one that has
    just reported in for the first time); returns how many were added. Flushes."""
    covered = select(Schedule.check_id).where(Schedule.location == location)
    added = 0
    for check in session.scalars(select(Check).where(Check.id.not_in(covered))):
        # JSON null and SQL NULL both mean "every location", so this is judged in Python.
        if check.locations is None:
            next_slot = slots.next_slot_after(
                now, interval=check.interval_seconds, offset=check.offset_seconds
            )
            session.add(Schedule(check_id=check.id, location=location, next_slot_at=next_slot))
            added += 1
    session.flush()
    return added
