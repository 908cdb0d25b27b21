"""The Celery backend: a Celery app built from the settings, its one task, publishing, and
the worker.

Messages are acknowledged after the job ran (``acks_late``) and handed back to the broker
when the worker process dies (``reject_on_worker_lost``); each worker process takes one
message at a time (prefetch multiplier 1), so a worker killed mid-job loses at most the
message it was running, and that message is delivered again: at once on RabbitMQ, after the
visibility timeout on Redis. The run's lease and recorded outcome make the redelivery safe:
a run that finished is skipped, so each slot completes once.

Failed work is never retried with broker countdowns: a failed run is recorded, and the job's
next slot (or the database-kept retry schedule of the work it processes) tries again. The one
countdown is a wait of a few seconds when a redelivered message finds an earlier delivery of
the same run still holding its lease.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext, build_context
from opsyard.db.base import utcnow
from opsyard.jobs import runner
from opsyard.jobs.catalogue import Catalogue, Job, load_catalogue
from opsyard.jobs.models import JobRun
from opsyard.plugins import PluginRegistry, create_registry

log = logging.getLogger(__name__)

TASK_NAME = "opsyard.jobs.run"
DEFAULT_QUEUE = "default"


def queue_name(settings: Settings, queue: str) -> str:
    """The broker's name for `queue`, with OPSYARD_QUEUE_PREFIX."""
    return f"{settings.queue_prefix}{queue}"


def transport_options(settings: Settings) -> dict[str, Any]:
    """Broker transport options. Redis reads these; RabbitMQ ignores them and redelivers as
    soon as a dead worker's connection closes."""
    visibility = settings.broker_visibility_timeout_seconds
    return {
        "visibility_timeout": visibility,
        # kombu looks for messages whose visibility timeout passed only every
        # interval x throttle seconds (100 s by default); look often enough that a dead
        # worker's message comes back soon after the timeout, not minutes later.
        "unacked_restore_interval": max(1, min(60, visibility // 10)),
        "unacked_restore_throttle": 1,
    }


def make_celery(settings: Settings) -> Any:
    """A Celery app for `settings.broker_url`, with the job task registered."""
    app = Celery("opsyard", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A worker that loses its broker connection cancels the jobs it was running: the
        # broker delivers their messages again anyway, and the lease would hold them back.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_default_queue=queue_name(settings, DEFAULT_QUEUE),
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(settings),
        worker_hijack_root_logger=False,
    )
    app.task(
        name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None
    )(run_job)
    return app


def message(run: JobRun) -> dict[str, Any]:
    """The task's keyword arguments for `run`: which run, and what it must be."""
    return {
        "run_id": run.id,
        "job": run.job,
        "team": run.team,
        "location": run.location,
        "at": run.scheduled_for.isoformat(),
    }


class CeleryDispatcher:
    """Publishes queued runs to their queues."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def dispatch(self, run: JobRun, job: Job) -> None:
        publish(self.app, self.settings, run=run, job=job)


def publish(app: Any, settings: Settings, *, run: JobRun, job: Job) -> None:
    """Send `run` to its queue, with a hard time limit a little past the job's own."""
    app.send_task(
        TASK_NAME,
        kwargs=message(run),
        queue=queue_name(settings, run.queue),
        time_limit=job.spec.time_limit_seconds + runner.HARD_LIMIT_GRACE_SECONDS,
    )


# Plugins are loaded once, in the worker before it forks its pool; each pool process then
# builds its own portal, because a forked child must not share its parent's connections.
_loaded: dict[str, tuple[PluginRegistry, Catalogue]] = {}
_portals: dict[int, PortalContext] = {}


def _plugins(settings: Settings) -> tuple[PluginRegistry, Catalogue]:
    if "plugins" not in _loaded:
        registry = create_registry(load_entrypoints=settings.load_plugins)
        _loaded["plugins"] = (registry, load_catalogue(registry))
    return _loaded["plugins"]


def _portal() -> tuple[PortalContext, Catalogue]:
    """This worker process's portal and the jobs it knows."""
    settings = get_settings()
    registry, catalogue = _plugins(settings)
    pid = os.getpid()
    if pid not in _portals:
        _portals[pid] = build_context(settings, registry=registry)
    return _portals[pid], catalogue


def run_job(
    task: Any, *, run_id: int, job: str, team: str = "", location: str = "", at: str
) -> str:
    """The task: run queued run `run_id` of `job` (for `team`, in `location`) as of `at`."""
    ctx, catalogue = _portal()
    try:
        ended = runner.execute(
            ctx,
            catalogue,
            run_id=run_id,
            worker=f"celery@{socket.gethostname()}/{os.getpid()}",
            expect_job=job,
            expect_at=datetime.fromisoformat(at),
            wait=False,
        )
    except runner.RunBusy as busy:
        # This message came back while an earlier delivery of it may still be running. Look
        # again shortly rather than wait here: waiting would count against the hard time
        # limit. The delay stays well under Redis's visibility timeout, or the held message
        # would be delivered yet again.
        remaining = (busy.until - utcnow()).total_seconds()
        visibility = ctx.settings.broker_visibility_timeout_seconds / 3
        raise task.retry(countdown=max(0.5, min(5.0, visibility, remaining))) from None
    return ended.outcome if ended is not None else "dropped"


def start_worker(settings: Settings, *, queues: list[str], concurrency: int | None) -> int:
    """Run a Celery worker consuming `queues` until it is stopped; returns its exit code."""
    _, catalogue = _plugins(settings)
    _warn_about_visibility(settings, catalogue)
    app = make_celery(settings)
    worker = app.Worker(
        queues=[queue_name(settings, q) for q in queues],
        concurrency=concurrency,
        hostname=f"opsyard-{settings.location}-{os.getpid()}@{socket.gethostname()}",
        loglevel=settings.log_level.upper(),
        # Mingle and gossip synchronise revocations between workers; opsyard never revokes,
        # and mingle alone adds seconds to every start.
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
        quiet=True,
    )
    worker.start()
    return int(worker.exitcode or 0)


def _warn_about_visibility(settings: Settings, catalogue: Catalogue) -> None:
    if not settings.broker_url.startswith(("redis", "rediss")):
        return
    longest = max((job.spec.time_limit_seconds for job in catalogue), default=0)
    if longest + runner.HARD_LIMIT_GRACE_SECONDS >= settings.broker_visibility_timeout_seconds:
        log.warning(
            "OPSYARD_BROKER_VISIBILITY_TIMEOUT_SECONDS (%d) is not above the longest job time "
            "limit (%d s): Redis will deliver such jobs again while they still run",
            settings.broker_visibility_timeout_seconds,
            longest,
        )
