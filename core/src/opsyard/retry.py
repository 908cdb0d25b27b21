"""Retry schedules kept in the database, shared by webhook deliveries and notifications.

Retries live in rows (`next_attempt_at`), not as broker countdowns, so they survive restarts
and a receiver that is down for hours loses nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetrySchedule:
    """Delays before attempt 2, 3, ... after the first one fails, with proportional jitter."""

    delays: tuple[timedelta, ...]
    jitter: float = 0.1

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    @property
    def total(self) -> timedelta:
        return sum(self.delays, timedelta())

    def next_attempt(
        self, *, attempts_made: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to try again after `attempts_made` failed attempts; None when out of tries."""
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        delay = self.delays[attempts_made - 1]
        spread = delay.total_seconds() * self.jitter
        offset = (rng or random).uniform(-spread, spread)
        return now + delay + timedelta(seconds=offset)


# Standard Webhooks' recommended shape, stretched to about three days in all.
WEBHOOK_RETRIES = RetrySchedule(
    delays=(
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=14),
        timedelta(hours=20),
        timedelta(hours=20),
    )
)

# Pages and notifications matter now or not at all; give up within about an hour.
NOTIFICATION_RETRIES = RetrySchedule(
    delays=(
        timedelta(seconds=5),
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(minutes=30),
    )
)
