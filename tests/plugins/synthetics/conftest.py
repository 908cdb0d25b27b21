"""The synthetics plugin switched on for both test teams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from opsyard_synthetics import location_runner
from tests.conftest import World


@pytest.fixture
def syn_world(world: World) -> Iterator[World]:
    """`world` with the synthetics plugin enabled for ``alpha`` and ``beta``.

    Core's test settings already allow private targets, so checks may probe loopback.
    """
    assert world.ctx.settings.allow_private_targets
    with session_scope(world.ctx.sessions) as session:
        for team in world.teams.values():
            teams.enable_plugin(session, team=session.merge(team), plugin="synthetics", actor=None)
    yield world
    # A run job started this process's runner for a location: stop it with its world.
    location_runner.stop_all()
