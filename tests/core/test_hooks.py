"""One test per hook, each checking the fixture plugin's implementation is called as documented.

`test_every_hook_is_documented_and_tested` fails when a hook is added to opsyard/hookspecs.py
without a `test_hook_<name>` here or a section in docs/plugins.md.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from click.testing import CliRunner
from fastapi.testclient import TestClient

from opsyard import events, hookspecs, inbound
from opsyard.context import PortalContext
from opsyard.db import migrations
from opsyard.db.engine import session_scope
from opsyard.extension import Event, InboundDelivery, JobContext, NavItem, PluginInfo, Widget
from opsyard.plugins import PluginRegistry
from opsyard.roles import Role
from opsyard.teams import service as teams
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]


def test_every_hook_is_documented_and_tested() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    tests = {name for name in dir(sys.modules[__name__]) if name.startswith("test_hook_")}
    for hook in hookspecs.hook_names():
        assert f"### `{hook}`" in docs, f"hook {hook} has no section in docs/plugins.md"
        assert f"test_hook_{hook}" in tests, f"hook {hook} has no test_hook_{hook} here"


def test_the_fixture_plugin_implements_every_hook(registry: PluginRegistry) -> None:
    implemented = {
        name
        for name in hookspecs.hook_names()
        if any(
            i.plugin_name == "fixture" for i in getattr(registry.manager.hook, name).get_hookimpls()
        )
    }
    assert implemented == set(hookspecs.hook_names())


def test_hook_plugin_info(registry: PluginRegistry) -> None:
    assert registry.info("fixture") == PluginInfo(
        title="Fixture", description="Notes, for testing every hook."
    )


def test_hook_api_router(client: TestClient, world: World) -> None:
    created = client.post(
        "/api/v1/teams/alpha/fixture/notes", json={"text": "hello"}, headers=world.auth("bob")
    )
    assert created.status_code == 201
    listed = client.get("/api/v1/teams/alpha/fixture/notes", headers=world.auth("vera"))
    assert [n["text"] for n in listed.json()] == ["hello"]
    # Another team's notes are its own.
    assert client.get("/api/v1/teams/beta/fixture/notes", headers=world.auth("carol")).json() == []


def test_hook_web_router(client: TestClient, world: World) -> None:
    response = client.get("/t/alpha/fixture/", headers=world.auth("alice"))
    assert response.status_code == 200
    assert "Fixture notes" in response.text


def test_hook_navigation_items(registry: PluginRegistry, world: World) -> None:
    results = dict(
        registry.call_each(
            "navigation_items", plugins=["fixture"], team=world.teams["alpha"], role=Role.VIEWER
        )
    )
    assert results["fixture"][0] == NavItem("Notes")
    assert results["fixture"][1].min_role is Role.OWNER


def test_hook_dashboard_widgets(registry: PluginRegistry, world: World) -> None:
    with world.session() as session:
        results = dict(
            registry.call_each(
                "dashboard_widgets",
                plugins=["fixture"],
                session=session,
                team=world.teams["alpha"],
                user=world.people["alice"],
            )
        )
    # The plugin returns a callable; core resolves it to the widgets.
    assert results["fixture"] == [Widget(title="Notes", html="<p>0 notes</p>")]


def test_hook_alembic_version_location(registry: PluginRegistry, world: World) -> None:
    locations = registry.version_locations()
    assert Path(locations["fixture"]).is_dir()
    state = migrations.status(world.ctx.engine, registry)
    assert "0001_fixture" in state.heads
    assert state.at_head


def test_hook_scheduled_jobs(registry: PluginRegistry, world: World) -> None:
    jobs = dict(registry.call_each("scheduled_jobs"))["fixture"]
    assert jobs[0].name == "fixture.count_notes"
    assert jobs[0].interval_seconds == 300
    context = JobContext(at=datetime(2026, 1, 1, tzinfo=UTC), portal=world.ctx, team_slug="alpha")
    jobs[0].run(context)
    from opsyard_fixture.plugin import RECEIVED

    assert RECEIVED["job"][-1] is context


def test_hook_event_types(registry: PluginRegistry) -> None:
    event_type = registry.event_types["fixture.note.created"]
    assert event_type.payload.__name__ == "NoteCreated"


def test_hook_handle_event(ctx: PortalContext) -> None:
    from opsyard_fixture.plugin import RECEIVED

    event = Event(
        name="fixture.note.created", team_slug="alpha", payload={"note_id": 1, "text": "x"}
    )
    assert events.publish(ctx, event) == 1
    assert RECEIVED["handle_event"][-1] is event
    assert RECEIVED["handle_event_portal"][-1] is ctx


def test_hook_handle_event_refuses_a_payload_off_schema(ctx: PortalContext) -> None:
    import pytest

    from opsyard.errors import OpsyardError

    with pytest.raises(OpsyardError) as raised:
        events.publish(ctx, Event("fixture.note.created", "alpha", {"note_id": "x"}))
    assert raised.value.code == "request.invalid"


def test_hook_handle_inbound_webhook(world: World) -> None:
    delivery = InboundDelivery(
        provider="github", team_slug="alpha", delivery_id="d-1", event="issues", payload={}
    )
    with world.session() as session:
        enabled = teams.enabled_plugins(session, world.teams["alpha"])
    assert inbound.dispatch(world.ctx, delivery, enabled) == ["fixture"]
    assert inbound.dispatch(world.ctx, delivery, enabled=[]) == []


def test_hook_cli_commands(registry: PluginRegistry) -> None:
    commands = dict(registry.call_each("cli_commands"))["fixture"]
    assert isinstance(commands[0], click.Group)
    result = CliRunner().invoke(commands[0], ["hello", "ops"])
    assert result.output == "hello ops\n"


def test_hook_demo_data(registry: PluginRegistry, world: World) -> None:
    with session_scope(world.ctx.sessions) as session:
        team = session.merge(world.teams["beta"])
        owner = session.merge(world.people["carol"])
        list(
            registry.call_each(
                "demo_data",
                plugins=["fixture"],
                session=session,
                team=team,
                users={"owner": owner},
                portal=world.ctx,
            )
        )
    from sqlalchemy import select

    from opsyard_fixture.models import FixtureNote

    with world.session() as session:
        texts = list(session.scalars(select(FixtureNote.text)))
    assert texts == ["Demo note by carol@example.com"]
    from opsyard_fixture.plugin import RECEIVED

    assert RECEIVED["demo_data_portal"][-1] is world.ctx


def test_hook_error_codes(registry: PluginRegistry) -> None:
    code = registry.errors.codes["fixture.note_too_long"]
    assert code.status == 422
    assert code.category.value == "user_fixable"
