"""teams.require_member: the check services use before giving someone work in a team."""

from __future__ import annotations

import pytest

from opsyard import errors
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from tests.conftest import World


def test_require_member_takes_roles_into_account(world: World) -> None:
    with session_scope(world.ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])

        def check(who: str, at_least: Role = Role.MEMBER) -> str:
            user_id = world.people[who].id
            return teams.require_member(
                session,
                team=alpha,
                user_id=user_id,
                error=errors.VALIDATION_FAILED,
                pointer="/owner_id",
                at_least=at_least,
            ).email

        assert check("alice") == "alice@example.com"
        assert check("bob") == "bob@example.com"
        assert check("vera", Role.VIEWER) == "vera@example.com"
        for who in ("vera", "carol"):
            with pytest.raises(OpsyardError) as refused:
                check(who)
            assert refused.value.fields[0].pointer == "/owner_id"
        with pytest.raises(OpsyardError):
            teams.require_member(
                session,
                team=alpha,
                user_id=2**31 - 1,
                error=errors.VALIDATION_FAILED,
                pointer="/owner_id",
            )
