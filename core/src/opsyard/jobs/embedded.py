"""The embedded backend: the scheduler and a few job threads inside ``opsyard serve``.

Used when no broker is configured. Every queue is served by the same threads, and
per-location jobs run for this process's own location only: a single machine cannot probe
from elsewhere.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.jobs import runner
from opsyard.jobs.catalogue import Catalogue, Job, load_catalogue
from opsyard.jobs.models import JobRun
from opsyard.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

_STOP = -1


class _ThreadPool:
    """Job threads fed from one queue. Daemon threads, unlike concurrent.futures', so a job
    stuck in a C call cannot keep the process from exiting."""

    def __init__(self, ctx: PortalContext, catalogue: Catalogue, size: int) -> None:
        self._ctx = ctx
        self._catalogue = catalogue
        self._queue: queue.Queue[int] = queue.Queue()
        self._worker = runner.worker_name("embedded")
        self._threads = [
            threading.Thread(target=self._work, name=f"opsyard-job-{i}", daemon=True)
            for i in range(size)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def dispatch(self, run: JobRun, job: Job) -> None:
        self._queue.put(run.id)

    def stop(self, *, deadline: float) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        still = sum(thread.is_alive() for thread in self._threads)
        if still:
            log.warning("%d job threads still busy at shutdown; their runs end abandoned", still)

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id == _STOP:
                return
            try:
                runner.execute(self._ctx, self._catalogue, run_id=run_id, worker=self._worker)
            except Exception:
                # The runner records job failures itself; this is the database failing.
                log.exception("job run %s could not be executed", run_id)


class EmbeddedScheduler:
    """Runs the scheduler in a background thread and the jobs in a small thread pool."""

    def __init__(
        self,
        ctx: PortalContext,
        *,
        catalogue: Catalogue | None = None,
        threads: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue if catalogue is not None else load_catalogue(ctx.registry)
        self.pool = _ThreadPool(ctx, self.catalogue, threads or ctx.settings.embedded_job_threads)
        self.scheduler = Scheduler(
            ctx=ctx,
            catalogue=self.catalogue,
            dispatcher=self.pool,
            locations=[ctx.settings.location],
            holder=runner.worker_name("embedded-scheduler"),
            clock=clock,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.scheduler.run, args=(self._stop,), name="opsyard-scheduler", daemon=True
        )

    def start(self) -> None:
        self.pool.start()
        self._thread.start()
        log.info("embedded scheduler started with %d jobs", len(self.catalogue))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling, then give running jobs until `timeout` to finish."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.pool.stop(deadline=deadline)

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()


def lifespan(ctx: PortalContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: runs the embedded scheduler while the app serves, when no broker
    is configured and OPSYARD_EMBEDDED_SCHEDULER is on."""

    @asynccontextmanager
    async def embedded_jobs(app: FastAPI) -> AsyncIterator[None]:
        settings = ctx.settings
        scheduler = None
        if not settings.broker_url and settings.embedded_scheduler:
            scheduler = EmbeddedScheduler(ctx)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)

    return embedded_jobs
