"""Demo data: loaded once, every demo user can log in, every plugin shows something."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard.audit.models import AuditEntry
from opsyard.auth import users as user_service
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.demo import DEMO_PASSWORD, DEMO_USERS, DemoSummary, load_demo_data
from opsyard.hookspecs import hookimpl
from opsyard.plugins import PluginRegistry, create_registry
from opsyard.roles import Role
from opsyard.teams import service as team_service
from opsyard.teams.models import Membership, Team, TeamPlugin
from opsyard_fixture.models import FixtureNote


def _load(ctx: PortalContext, registry: PluginRegistry) -> DemoSummary:
    with session_scope(ctx.sessions) as session:
        return load_demo_data(session, dataclasses.replace(ctx, registry=registry))


def _counts(ctx: PortalContext) -> dict[str, int]:
    with session_scope(ctx.sessions) as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Team, Membership, TeamPlugin, FixtureNote)
        }


def test_demo_data_loads_once(ctx: PortalContext, registry: PluginRegistry) -> None:
    first = _load(ctx, registry)
    assert first.changed and not first.plugin_failures
    assert first.created_teams == ["platform", "payments"]
    assert first.plugin_data_loaded == ["fixture", "postmortems", "synthetics"]
    after_first = _counts(ctx)
    assert after_first["User"] == len(DEMO_USERS) and after_first["FixtureNote"] == 1

    second = _load(ctx, registry)
    assert not second.changed
    assert _counts(ctx) == after_first


def test_the_demo_team_has_someone_on_call(ctx: PortalContext, registry: PluginRegistry) -> None:
    from opsyard.db.base import utcnow
    from opsyard.oncall import service as oncall_service

    _load(ctx, registry)
    _load(ctx, registry)
    with session_scope(ctx.sessions) as session:
        platform = team_service.require_by_slug(session, "platform")
        [rotation] = oncall_service.list_rotations(session, team=platform)
        on_call = oncall_service.who_is_on_call(session, rotation=rotation, at=utcnow())
        assert on_call is not None
        assert on_call.email in {"ana@example.com", "ben@example.com"}


def test_demo_teams_roles_and_plugins(ctx: PortalContext, registry: PluginRegistry) -> None:
    _load(ctx, registry)
    with session_scope(ctx.sessions) as session:
        platform = team_service.require_by_slug(session, "platform")
        payments = team_service.require_by_slug(session, "payments")
        roles = {m.user.email: m.role for m in team_service.members(session, platform)}
        assert roles == {
            "ana@example.com": Role.OWNER.value,
            "ben@example.com": Role.MEMBER.value,
            "vic@example.com": Role.VIEWER.value,
        }
        assert team_service.members(session, payments)
        assert team_service.enabled_plugins(session, platform) == set(registry.names)
        note = session.scalars(select(FixtureNote)).one()
        # The fixture plugin's demo_data got the platform team and the users by role.
        assert note.team_id == platform.id and "ana@example.com" in note.text
        admin = user_service.require_by_email(session, "admin@example.com")
        assert admin.is_admin and team_service.teams_of(session, admin) == []


def test_every_demo_user_can_log_in(ctx: PortalContext, registry: PluginRegistry) -> None:
    _load(ctx, registry)
    emails = {email for email, _ in DemoSummary.accounts()}
    assert emails == {"admin@example.com", "ana@example.com", "ben@example.com", "vic@example.com"}
    with session_scope(ctx.sessions) as session:
        for email in emails:
            user = user_service.authenticate(
                session, email=email, password=DEMO_PASSWORD, max_failures=5, lockout_seconds=60
            )
            assert user.is_active


class _HalfThenBoom:
    """A plugin whose demo data fails halfway through."""

    @hookimpl
    def demo_data(self, session: Session, team: Team, users: dict[str, Any]) -> None:
        session.add(FixtureNote(team_id=team.id, text="half written"))
        session.flush()
        raise RuntimeError("boom")


def test_a_failing_plugin_leaves_no_half_data(ctx: PortalContext) -> None:
    registry = create_registry(load_entrypoints=True, extra=[("halfboom", _HalfThenBoom())])
    summary = _load(ctx, registry)
    assert set(summary.plugin_failures) == {"halfboom"}
    assert "fixture" in summary.plugin_data_loaded
    assert "halfboom" not in summary.plugin_data_loaded
    with session_scope(ctx.sessions) as session:
        texts = list(session.scalars(select(FixtureNote.text)))
        assert len(texts) == 1 and "half" not in texts[0]
        loaded = set(
            session.scalars(
                select(AuditEntry.target).where(AuditEntry.action == "demo.plugin_data_loaded")
            )
        )
        assert "fixture" in loaded and "halfboom" not in loaded
    # Not recorded as loaded, so the next run tries that plugin again (and only that one).
    again = _load(ctx, registry)
    assert set(again.plugin_failures) == {"halfboom"} and again.plugin_data_loaded == []
