"""notify(..., people=...): a message for particular people, through the team's channels."""

from __future__ import annotations

from opsyard.db.engine import session_scope
from opsyard.notifications import service
from tests.conftest import World
from tests.core.notifications.helpers import add_channel


def test_email_goes_to_the_people_and_rooms_name_them(world: World) -> None:
    add_channel(world, kind="email", to=["team@example.com"])
    add_channel(world, kind="webhook", url="https://hooks.example.com/ops")
    with session_scope(world.ctx.sessions) as session:
        queued = service.notify(
            session,
            team=session.merge(world.teams["alpha"]),
            summary="Bob: an action item is overdue",
            severity="warning",
            details={"item": 7},
            people=[session.merge(world.people["bob"])],
        )
        by_kind = {row.channel_kind: row for row in queued}
        assert by_kind["email"].recipients == ["bob@example.com"]
        assert by_kind["webhook"].details == {"item": 7, "to": ["bob@example.com"]}
        # Without people, email goes to the channel's own list.
        [plain_email, _] = service.notify(
            session,
            team=session.merge(world.teams["alpha"]),
            summary="Weekly report",
            severity="info",
        )
        assert plain_email.recipients == ["team@example.com"]
