"""Time limits for jobs running in threads: one watchdog thread per process.

Python cannot kill a thread, so at the deadline the watchdog raises ``JobTimeLimitExceeded``
inside the job's thread (``PyThreadState_SetAsyncExc``). The exception arrives at the next
Python instruction the thread executes: a job blocked in a C call (a socket read without a
timeout) is interrupted when that call returns. Celery workers also get a hard time limit a
little later, which kills the process if the job never returns to Python.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class JobTimeLimitExceeded(BaseException):
    """Raised inside a job at its time limit. A BaseException, so that a job's broad
    ``except Exception`` does not swallow it."""


@dataclass
class _Armed:
    thread_id: int
    deadline: float
    fired: bool = False


@dataclass
class Watchdog:
    """Interrupts threads that run past their deadline."""

    _lock: threading.Condition = field(default_factory=threading.Condition)
    _armed: dict[int, _Armed] = field(default_factory=dict)
    _next_token: int = 0
    _thread: threading.Thread | None = None

    @contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        """Run the block with a time limit; raises ``JobTimeLimitExceeded`` when it is over."""
        with self._lock:
            self._next_token += 1
            token = self._next_token
            armed = _Armed(threading.get_ident(), time.monotonic() + seconds)
            self._armed[token] = armed
            self._ensure_thread()
            self._lock.notify()
        try:
            yield
        finally:
            with self._lock:
                self._armed.pop(token, None)
                if armed.fired:
                    # The exception may still be pending if the block finished just as the
                    # deadline passed; clear it so it cannot surface in the caller's code.
                    _set_async_exc(armed.thread_id, None)
            if armed.fired:
                raise JobTimeLimitExceeded

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._watch, name="opsyard-job-watchdog", daemon=True
            )
            self._thread.start()

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for token, armed in list(self._armed.items()):
                    if armed.deadline <= now:
                        armed.fired = True
                        # Forgotten here rather than by `limit`, whose clean-up may itself be
                        # interrupted by the exception raised now.
                        del self._armed[token]
                        _set_async_exc(armed.thread_id, JobTimeLimitExceeded)
                pending = [a.deadline for a in self._armed.values()]
                self._lock.wait(timeout=min(pending) - now if pending else None)


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    target = ctypes.py_object(exc) if exc is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


_watchdogs: dict[int, Watchdog] = {}


def watchdog() -> Watchdog:
    """This process's watchdog. Keyed by pid: a forked Celery child gets its own thread."""
    pid = os.getpid()
    if pid not in _watchdogs:
        _watchdogs[pid] = Watchdog()
    return _watchdogs[pid]
