"""The scheduler loop both backends share: queue each target's due slot, hand it on.

One scheduler leads at a time, through a lease in the database; any other stands by and
takes over when the leader stops renewing. Each due slot becomes a queued ``job_runs`` row
(unique per slot, so even two leaders at once could not queue it twice), then goes to the
backend: a thread of this process (embedded) or a Celery queue.

Between slots the loop sleeps until the next one is due, so jobs every few seconds cost a
wake-up and a short transaction each, not a poll of the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.jobs import leases, runner, service
from opsyard.jobs.catalogue import Catalogue, Job
from opsyard.jobs.models import JobRun
from opsyard.jobs.schedule import Plan, plan
from opsyard.jobs.service import Target

log = logging.getLogger(__name__)

# New teams, and plugins switched on, are picked up this often.
REFRESH_SECONDS = 10.0
# Runs whose runner died are recorded as abandoned this often.
SWEEP_SECONDS = 15.0
# After an unexpected error (the database restarting), wait this long before trying again.
ERROR_BACKOFF_SECONDS = 5.0


class Dispatcher(Protocol):
    """Hands a queued run to whatever executes it."""

    def dispatch(self, run: JobRun, job: Job) -> None: ...


@dataclass
class _Entry:
    target: Target
    last_slot: datetime
    next: Plan


@dataclass
class Scheduler:
    ctx: PortalContext
    catalogue: Catalogue
    dispatcher: Dispatcher
    locations: list[str]
    holder: str
    clock: Callable[[], datetime] = utcnow
    entries: dict[str, _Entry] = field(default_factory=dict)
    is_leader: bool = False
    _next_renew: datetime | None = None
    _next_refresh: datetime | None = None
    _next_sweep: datetime | None = None
    _announced_standby: bool = False
    _held_until: datetime | None = None

    @property
    def lease_ttl(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.scheduler_lease_seconds)

    def run(self, stop: threading.Event) -> None:
        """Schedule until `stop` is set, then hand the leadership over."""
        try:
            while not stop.is_set():
                try:
                    delay = self.step()
                except Exception:
                    log.exception("scheduler step failed; retrying in %s s", ERROR_BACKOFF_SECONDS)
                    delay = ERROR_BACKOFF_SECONDS
                stop.wait(delay)
        finally:
            self.resign()

    def step(self) -> float:
        """Do everything due now; returns how many seconds to sleep before the next step."""
        now = self.clock()
        if not (self.is_leader and self._held_until is not None and now < self._held_until):
            if self._next_renew is not None and now < self._next_renew:
                return self._seconds_until(self._next_renew, now)  # standing by
            if not self._lead(now):
                return self._seconds_until(self._next_renew, now)
        if self._next_refresh is None:
            self._refresh(now)
        due = [entry for entry in self.entries.values() if entry.next.due_at <= now]
        if due:
            self._queue(due, now)
        # Housekeeping comes after the due runs are out, so it never delays them.
        if self._next_renew is not None and now >= self._next_renew:
            self._lead(now)
        if self._next_refresh is not None and now >= self._next_refresh:
            self._refresh(now)
        if self._next_sweep is None or now >= self._next_sweep:
            swept = runner.sweep_abandoned(self.ctx)
            if swept:
                log.warning("recorded %d abandoned job runs", swept)
            self._next_sweep = now + timedelta(seconds=SWEEP_SECONDS)
        wake = min(
            [entry.next.due_at for entry in self.entries.values()]
            + [t for t in (self._next_renew, self._next_refresh, self._next_sweep) if t]
        )
        return self._seconds_until(wake, self.clock())

    def resign(self) -> None:
        """Give up the leadership, so a standby scheduler takes over at once."""
        if not self.is_leader:
            return
        self.is_leader = False
        key = leases.LeaseKey(leases.SCHEDULER_LEASE)
        try:
            with session_scope(self.ctx.sessions) as session:
                leases.release(session, key=key, holder=self.holder, now=self.clock())
        except Exception:
            log.exception("could not release the scheduler lease; it expires on its own")

    def _lead(self, now: datetime) -> bool:
        """Take or renew the leadership; False when another scheduler has it."""
        key = leases.LeaseKey(leases.SCHEDULER_LEASE)
        with session_scope(self.ctx.sessions) as session:
            leading = leases.acquire(
                session, key=key, holder=self.holder, ttl=self.lease_ttl, now=now
            )
        self._next_renew = now + self.lease_ttl / 3
        self._held_until = now + self.lease_ttl if leading else None
        if leading and not self.is_leader:
            log.info("scheduler %s is now the leader", self.holder)
            # Another scheduler may have queued slots while this one stood by.
            self.entries.clear()
            self._next_refresh = None
        elif not leading and self.is_leader:
            log.warning("scheduler %s lost the leadership; standing by", self.holder)
        elif not leading and not self._announced_standby:
            log.info("another scheduler leads; %s stands by", self.holder)
        self._announced_standby = not leading
        self.is_leader = leading
        return leading

    def _refresh(self, now: datetime) -> None:
        """Pick up teams and plugins switched on or off since the last look."""
        with session_scope(self.ctx.sessions) as session:
            current = service.targets(session, catalogue=self.catalogue, locations=self.locations)
            fresh = [t for t in current if t.key not in self.entries]
            history = service.last_slots(session) if fresh else {}
        wanted = {target.key for target in current}
        for key in [key for key in self.entries if key not in wanted]:
            del self.entries[key]
        for target in fresh:
            schedule = target.job.schedule
            last = history.get((target.job.name, target.team, target.location))
            upcoming = plan(schedule, key=target.key, last_slot=last, now=now)
            # A target never run before starts at its next slot, as if the current one ran.
            self.entries[target.key] = _Entry(
                target, last or schedule.latest_at_or_before(now), upcoming
            )
        self._next_refresh = now + timedelta(seconds=REFRESH_SECONDS)

    def _queue(self, due: list[_Entry], now: datetime) -> None:
        queued: list[tuple[JobRun, Job]] = []
        with session_scope(self.ctx.sessions) as session:
            for entry in due:
                schedule, key = entry.target.job.schedule, entry.target.key
                # Planned again: if this loop stalled past later slots, only the latest runs.
                current = plan(schedule, key=key, last_slot=entry.last_slot, now=now)
                if current.due_at > now:
                    entry.next = current
                    continue
                run = service.queue_run(
                    session,
                    target=entry.target,
                    slot=current.slot,
                    due_at=current.due_at,
                    queued_by=self.holder,
                    now=now,
                )
                entry.last_slot = current.slot
                entry.next = plan(schedule, key=key, last_slot=current.slot, now=now)
                if run is not None:
                    queued.append((run, entry.target.job))
        for run, job in queued:
            try:
                self.dispatcher.dispatch(run, job)
            except Exception as exc:
                log.exception("could not hand run %s of %s to its backend", run.id, job.name)
                with session_scope(self.ctx.sessions) as session:
                    detail = f"{type(exc).__name__}: {exc}"
                    service.mark_publish_failed(session, run_id=run.id, detail=detail)

    @staticmethod
    def _seconds_until(when: datetime | None, now: datetime) -> float:
        if when is None:
            return 0.0
        return max(0.0, (when - now).total_seconds())
