"""Shared steps for the notification tests: channels, rotations, and running the sender."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select

from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.extension import JobContext, JobSpec
from opsyard.notifications import channels
from opsyard.notifications.models import Notification
from opsyard.oncall import service as oncall
from opsyard.teams.models import Team
from tests.conftest import World

ROUTING_KEY = "0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def sender_job(ctx: PortalContext) -> JobSpec:
    """The sender as the scheduler sees it: declared by core's built-in hooks."""
    jobs = dict(ctx.registry.call_each("scheduled_jobs"))["core.notifications"]
    [job] = [j for j in jobs if j.name == "core.notifications.send"]
    return job


def run_sender(ctx: PortalContext, at: datetime | None = None) -> None:
    """One run of the sender job as of `at` (default: the wall clock, for rows the API made)."""
    sender_job(ctx).run(JobContext(at=at or utcnow(), portal=ctx))


def add_channel(world: World, team: str = "alpha", **kwargs: Any) -> tuple[int, str | None]:
    """Create a channel in `team`; returns its id and the secret shown once."""
    kwargs.setdefault("name", kwargs["kind"])
    with session_scope(world.ctx.sessions) as session:
        created = channels.create_channel(
            session,
            team=session.merge(world.teams[team]),
            settings=world.ctx.settings,
            actor=None,
            **kwargs,
        )
        return created.channel.id, created.secret


def add_rotation(world: World, *members: str, team: str = "alpha", name: str = "primary") -> int:
    """A daily rotation from 2026-03-01, hand-off 09:00 UTC, `members` in order."""
    with session_scope(world.ctx.sessions) as session:
        rotation = oncall.create_rotation(
            session,
            team=session.merge(world.teams[team]),
            name=name,
            timezone="UTC",
            handoff_time=time(9, 0),
            period="daily",
            start_date=date(2026, 3, 1),
            members=[session.merge(world.people[m]) for m in members],
            actor=None,
        )
        return rotation.id


def team(session: Any, world: World, slug: str = "alpha") -> Team:
    return session.merge(world.teams[slug])


def notifications(ctx: PortalContext) -> list[Notification]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def notification(ctx: PortalContext, notification_id: int) -> Notification:
    with ctx.sessions() as session:
        found = session.get(Notification, notification_id)
        assert found is not None
        return found
