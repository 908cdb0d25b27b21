"""A location's runner: starts each claimed check at its own slot and stores the runs.

The run job ticks every few seconds, but checks are due at any millisecond: a check whose
slot falls between two ticks must not wait for the next one. So the job only claims what is
due before its next tick and hands it over; the runner, one per location in each process
that runs the job, keeps an event loop in a thread of its own that starts each check at its
slot, and a second thread that stores finished runs in batches. Probing and storing overlap,
and a slow target delays nothing but its own run.

Nothing here is needed for correctness across processes: the claims are. If the process
dies, the runs it held are lost and their rows are claimed again once their leases end; the
next run then counts the skipped slots.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from collections.abc import Sequence

from opsyard.context import PortalContext
from opsyard_synthetics import execution, recording
from opsyard_synthetics.claims import DueRun
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.recording import Finished

log = logging.getLogger(__name__)

# Probes in flight at once per location and process: each holds a socket, and a process has
# a limited number of file descriptors. Checks waiting for a place start late, and say so.
MAX_IN_FLIGHT = 400
# A batch is stored when it has this many runs, or when its first run has waited this long.
BATCH_MAX = 500
BATCH_WAIT_SECONDS = 0.2
# How many runs a runner holds, claimed but not stored, before the run job claims no more:
# while the database is slow or away, the backlog stays bounded instead of growing.
MAX_PENDING = 50_000
_FAILURES_KEPT = 20


class LocationRunner:
    """Runs one location's claimed checks in this process; see the module docstring."""

    def __init__(self, portal: PortalContext, location: str) -> None:
        self.portal = portal
        self.location = location
        self._client = ProbeClient(
            location=location, address_allowed=execution.address_guard(portal.settings)
        )
        self._loop = execution.new_event_loop()
        self._finished: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._failures: list[str] = []
        self._failed_runs = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self._threads = [
            threading.Thread(
                target=self._loop.run_forever, name=f"synthetics-{location}-probes", daemon=True
            ),
            threading.Thread(
                target=self._store_forever, name=f"synthetics-{location}-store", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pending(self) -> int:
        """Runs handed over and not stored yet."""
        with self._idle:
            return self._pending

    def submit(self, due: Sequence[DueRun]) -> None:
        """Start each of `due` at its slot (at once when the slot has passed)."""
        if not due:
            return
        with self._idle:
            self._pending += len(due)
        self._loop.call_soon_threadsafe(self._schedule, list(due))

    def take_failures(self) -> tuple[int, list[str]]:
        """How many runs could not be stored since the last call, and why (the first few)."""
        with self._idle:
            count, reasons = self._failed_runs, self._failures
            self._failed_runs, self._failures = 0, []
            return count, reasons

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every run handed over is stored (or given up); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Give the runs in hand until `timeout` to finish, then stop both threads. Runs
        not stored by then run again when their claims expire."""
        self.wait_idle(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._finished.put(None)
        for thread in self._threads:
            thread.join(timeout=1.0)

    # -- the event loop's thread

    def _schedule(self, due: list[DueRun]) -> None:
        now_wall, now_loop = time.time(), self._loop.time()
        for item in due:
            # The loop's clock is monotonic; slots are wall-clock instants.
            start = now_loop + (item.slot_at.timestamp() - now_wall)
            self._loop.call_at(max(start, now_loop), self._start, item)

    def _start(self, item: DueRun) -> None:
        early = item.slot_at.timestamp() - time.time()
        if early > 0:
            # Loop timers have millisecond resolution and may fire a little early; a check
            # never starts before its slot.
            self._loop.call_later(early, self._start, item)
            return
        task = self._loop.create_task(self._run(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, item: DueRun) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(MAX_IN_FLIGHT)
        async with self._semaphore:
            result = await execution.probe(item, location=self.location, client=self._client)
        self._finished.put(Finished(due=item, result=result, started_at=result.started_at))

    # -- the storing thread

    def _store_forever(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                recording.store_runs(self.portal, location=self.location, finished=batch)
            except Exception as exc:
                # store_runs logged each failure; the job reports them on its next run.
                with self._idle:
                    self._failed_runs += len(batch)
                    if len(self._failures) < _FAILURES_KEPT:
                        self._failures.append(f"{type(exc).__name__}: {exc}"[:300])
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _next_batch(self) -> list[Finished] | None:
        first = self._finished.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_SECONDS
        while len(batch) < BATCH_MAX:
            try:
                item = self._finished.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._finished.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch


_runners: dict[tuple[int, str], LocationRunner] = {}
_runners_lock = threading.Lock()
_stop_at_exit = False


def runner_for(portal: PortalContext, location: str) -> LocationRunner:
    """This process's runner for `location` with `portal`, started on first use."""
    global _stop_at_exit
    with _runners_lock:
        key = (id(portal), location)
        runner = _runners.get(key)
        if runner is None or runner.portal is not portal:
            if not _stop_at_exit:
                atexit.register(stop_all)
                _stop_at_exit = True
            runner = _runners[key] = LocationRunner(portal, location)
        return runner


def stop_all(timeout: float = 5.0) -> None:
    """Stop every runner of this process (at exit, and between tests)."""
    with _runners_lock:
        runners = list(_runners.values())
        _runners.clear()
    for runner in runners:
        runner.stop(timeout)
