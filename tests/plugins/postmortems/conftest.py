"""The post-mortems plugin switched on for both test teams."""

from __future__ import annotations

import pytest

from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from tests.conftest import World


@pytest.fixture
def pm_world(world: World) -> World:
    """`world` with the post-mortems plugin enabled for ``alpha`` and ``beta``."""
    with session_scope(world.ctx.sessions) as session:
        for team in world.teams.values():
            teams.enable_plugin(session, team=session.merge(team), plugin="postmortems", actor=None)
    return world
