"""Leases: one holder at a time, renewable by it, free again when released or expired."""

from __future__ import annotations

import threading
from datetime import timedelta

from opsyard.context import PortalContext, build_context
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.jobs import leases
from opsyard.jobs.leases import LeaseKey

KEY = LeaseKey("tj.job", "alpha", "")
TTL = timedelta(seconds=30)


def _acquire(
    ctx: PortalContext, holder: str, *, at_offset: float = 0, ttl: timedelta = TTL
) -> bool:
    with session_scope(ctx.sessions) as session:
        now = utcnow() + timedelta(seconds=at_offset)
        return leases.acquire(session, key=KEY, holder=holder, ttl=ttl, now=now)


def test_one_holder_at_a_time_until_released(ctx: PortalContext) -> None:
    assert _acquire(ctx, "a")
    assert not _acquire(ctx, "b")
    assert _acquire(ctx, "a")  # the holder renews
    with session_scope(ctx.sessions) as session:
        assert not leases.release(session, key=KEY, holder="b", now=utcnow())
        assert leases.release(session, key=KEY, holder="a", now=utcnow())
    assert _acquire(ctx, "b")


def test_an_expired_lease_can_be_taken_over(ctx: PortalContext) -> None:
    assert _acquire(ctx, "a", ttl=timedelta(seconds=5))
    assert not _acquire(ctx, "b", at_offset=4)
    assert _acquire(ctx, "b", at_offset=6)
    # The old holder cannot release what is no longer its own.
    with session_scope(ctx.sessions) as session:
        assert not leases.release(session, key=KEY, holder="a", now=utcnow())


def test_leases_for_other_teams_and_locations_are_separate(ctx: PortalContext) -> None:
    with session_scope(ctx.sessions) as session:
        now = utcnow()
        for key in (KEY, LeaseKey("tj.job", "beta"), LeaseKey("tj.job", "alpha", "eu")):
            assert leases.acquire(session, key=key, holder="a", ttl=TTL, now=now)


def test_racing_processes_get_exactly_one_winner(ctx: PortalContext) -> None:
    """Eight "processes" (own engines) race for the same fresh lease, many times over."""
    contexts = [build_context(ctx.settings, registry=ctx.registry) for _ in range(8)]
    try:
        for round_number in range(5):
            key = LeaseKey(f"tj.race{round_number}")
            barrier = threading.Barrier(len(contexts))
            winners: list[int] = []

            def race(index: int, key: LeaseKey = key, barrier: threading.Barrier = barrier) -> None:
                barrier.wait(10)
                with session_scope(contexts[index].sessions) as session:
                    if leases.acquire(session, key=key, holder=f"p{index}", ttl=TTL, now=utcnow()):
                        winners.append(index)

            threads = [threading.Thread(target=race, args=(i,)) for i in range(len(contexts))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert len(winners) == 1, winners
    finally:
        for context in contexts:
            context.engine.dispose()
