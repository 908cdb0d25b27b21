"""Working through a queue table in batches, within a time budget, as of a replayable instant."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


def drain(*, at: datetime, budget_seconds: float, batch: Callable[[datetime], int | None]) -> int:
    """Call `batch(now)` until it finds nothing (None) or the budget is spent; returns the sum
    of what the batches handled.

    `now` starts at the job's `at` and moves on with real time, so a job replayed with
    `opsyard jobs run --at` sees the instant it was asked for, and a long run still sees time
    pass (leases it takes expire when they should).
    """
    started = time.monotonic()
    handled = 0
    while (elapsed := time.monotonic() - started) < budget_seconds:
        done = batch(at + timedelta(seconds=elapsed))
        if done is None:
            break
        handled += done
    return handled
