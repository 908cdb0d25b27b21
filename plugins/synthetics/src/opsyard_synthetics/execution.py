"""Running a location's due checks: keeping Schedule rows in step with the checks, and
claiming, probing and storing what is due.

Each check has one Schedule row per location it runs from. Two paths run them:

- the location's run job claims the rows whose slots come before its next tick and hands
  them to the location's runner (`location_runner`), which starts each at its own slot and
  stores the runs in batches as they finish;
- `run_due` runs what is due as of a given instant and returns once it is stored: the way to
  catch up by hand, and the one tests drive with a clock of their own.

Either way a check runs its latest due slot only (skipped slots are counted on the run,
never replayed), and its row then moves to the next slot of the check's fixed grid.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsyard import net
from opsyard.config import Settings
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard_synthetics import claims, recording, slots
from opsyard_synthetics.claims import DueRun
from opsyard_synthetics.models import Check, Schedule
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.recording import Finished
from opsyard_synthetics.runner import Outcome, RunResult, run_check

log = logging.getLogger(__name__)

PLUGIN = claims.PLUGIN
# How many checks `run_due` probes at once.
MAX_CONCURRENCY = 100

_T = TypeVar("_T")


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


def claim_token(location: str) -> str:
    """A fresh token naming one claim, and the location it was made for."""
    return f"{uuid.uuid4().hex[:16]}@{location}"[:64]


def claim_ahead(
    portal: PortalContext, *, location: str, now: datetime, ahead: timedelta, limit: int
) -> list[DueRun]:
    """Claim the location's rows whose slots come before `now` + `ahead` (at most `limit`,
    the earliest first), each for its own slot, or for its latest due slot when it is late."""
    token = claim_token(location)
    with session_scope(portal.sessions) as session:
        claimed = claims.claim(
            session, location=location, until=now + ahead, at=now, token=token, limit=limit
        )
        return claims.prepare(session, claimed, at=now, token=token) if claimed else []


def run_due(portal: PortalContext, *, location: str, at: datetime, limit: int) -> int:
    """Run the checks due at `location` as of `at` (at most `limit`) at once, store a Run for
    each and fold it into alerting; returns how many runs were stored."""
    token = claim_token(location)
    wall = utcnow()
    with session_scope(portal.sessions) as session:
        claimed = claims.claim(
            session, location=location, until=at, at=at, token=token, limit=limit
        )
        due = claims.prepare(session, claimed, at=at, token=token) if claimed else []
    if not due:
        return 0
    client = ProbeClient(location=location, address_allowed=address_guard(portal.settings))
    results = run_on_new_loop(_probe_all(due, location=location, client=client))
    # Times on the caller's clock: `at` is when the call runs as of, so a replay stores the
    # same lags as the original run would have.
    finished = [
        Finished(due=item, result=result, started_at=at + (result.started_at - wall))
        for item, result in zip(due, results, strict=True)
    ]
    return recording.store_runs(portal, location=location, finished=finished)


async def probe(item: DueRun, *, location: str, client: ProbeClient) -> RunResult:
    """Run one claimed check, giving up after its run budget."""
    started_at, started = datetime.now(UTC), perf_counter()
    if item.definition is None:
        return _result(item, location, "error", item.problem, started_at, started)
    try:
        return await asyncio.wait_for(
            run_check(item.definition, location=location, secrets=item.secrets, client=client),
            timeout=item.budget_seconds,
        )
    except TimeoutError:
        reason = (
            f"no result within {item.budget_seconds:g} s, the sum of the check's timeouts "
            "and a little slack"
        )
        return _result(item, location, "failing", reason, started_at, started)
    except Exception as exc:
        # run_check turns the check's and the target's faults into outcomes; anything else
        # is ours. The run is stored as an error rather than lost.
        log.exception("synthetics: running check %s failed", item.check_id)
        reason = f"error: the run failed inside opsyard ({type(exc).__name__})"
        return _result(item, location, "error", reason, started_at, started)


async def _probe_all(
    due: Sequence[DueRun], *, location: str, client: ProbeClient
) -> list[RunResult]:
    semaphore = asyncio.Semaphore(MAX_CONCURRENCY)

    async def one(item: DueRun) -> RunResult:
        async with semaphore:
            return await probe(item, location=location, client=client)

    return list(await asyncio.gather(*(one(item) for item in due)))


def _result(
    item: DueRun,
    location: str,
    outcome: Outcome,
    reason: str | None,
    at: datetime,
    started: float,
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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop, uvloop's when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional in spirit
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_on_new_loop(coroutine: Awaitable[_T]) -> _T:
    """Run `coroutine` to the end on a fresh event loop (`new_event_loop`)."""

    async def main() -> _T:
        return await coroutine

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


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
