"""Team settings: owners switch plugins and manage members; everyone else only looks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.audit.models import AuditEntry
from opsyard.auth import users
from opsyard.plugins import PluginRegistry
from opsyard.roles import Role
from opsyard.teams import service as teams
from tests.conftest import World
from tests.web.conftest import send


def _enabled(world: World) -> bool:
    with world.session() as session:
        return teams.is_enabled(session, session.merge(world.teams["alpha"]), "fixture")


def _role(world: World, who: str) -> str | None:
    with world.session() as session:
        user = users.require_by_email(session, f"{who}@example.com")
        member = teams.membership(session, team=session.merge(world.teams["alpha"]), user=user)
        return member.role if member else None


def test_owners_see_switches_and_others_a_read_only_list(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    owner = signed_in("alice").get("/t/alpha/settings").text
    assert 'role="switch"' in owner
    assert 'aria-checked="true"' in owner
    assert "Add a member" in owner
    for who in ("bob", "vera"):
        page = signed_in(who).get("/t/alpha/settings").text
        assert 'role="switch"' not in page
        assert "Add a member" not in page
        assert "alice@example.com" in page
        assert "Only team owners can change members." in page


def test_switching_a_plugin_off_and_on_updates_the_db_and_the_navigation(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    off = send(alice, "/t/alpha/settings/plugins/fixture", {"enabled": "false"}, htmx=True)
    assert off.status_code == 200, off.text
    assert not _enabled(world)
    # The switch replaces itself ...
    assert off.text.lstrip().startswith('<div class="plugin-switch" id="plugin-fixture"')
    assert 'aria-checked="false"' in off.text
    # ... and the navigation comes along out of band, without the plugin's entry.
    nav = off.text[off.text.index('<nav id="team-nav"') :]
    assert 'hx-swap-oob="true"' in nav
    assert "Notes" not in nav
    assert alice.get("/t/alpha/fixture/").status_code == 404

    on = send(alice, "/t/alpha/settings/plugins/fixture", {"enabled": "true"}, htmx=True)
    assert on.status_code == 200
    assert _enabled(world)
    assert 'aria-checked="true"' in on.text
    assert '<a href="/t/alpha/fixture/" data-plugin="fixture">Notes</a>' in on.text
    assert alice.get("/t/alpha/fixture/").status_code == 200

    with world.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["plugin.disabled", "plugin.enabled"]


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_only_owners_may_switch_plugins(
    signed_in: Callable[[str], TestClient], world: World, who: str
) -> None:
    response = send(
        signed_in(who), "/t/alpha/settings/plugins/fixture", {"enabled": "false"}, htmx=True
    )
    assert response.status_code == 403
    assert _enabled(world)


def test_switching_an_unknown_plugin_is_a_404(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    response = send(signed_in("alice"), "/t/alpha/settings/plugins/nope", {"enabled": "true"})
    assert response.status_code == 404


def test_another_teams_owner_gets_404(signed_in: Callable[[str], TestClient], world: World) -> None:
    carol = signed_in("carol")
    assert send(carol, "/t/alpha/settings/plugins/fixture", {"enabled": "false"}).status_code == 404
    assert (
        send(carol, "/t/alpha/settings/members", {"email": "carol@example.com"}).status_code == 404
    )
    assert _enabled(world)
    assert _role(world, "carol") is None


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_only_owners_may_change_members(
    signed_in: Callable[[str], TestClient], world: World, who: str
) -> None:
    browser = signed_in(who)
    bob_id = world.people["bob"].id
    base = "/t/alpha/settings/members"
    added = send(browser, base, {"email": "carol@example.com", "role": "owner"}, target="members")
    assert added.status_code == 403
    assert send(browser, f"{base}/{bob_id}/role", {"role": "owner"}).status_code == 403
    assert send(browser, f"{base}/{bob_id}/remove").status_code == 403
    assert _role(world, "carol") is None
    assert _role(world, "bob") == "member"


def test_owners_add_change_and_remove_members(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    base = "/t/alpha/settings/members"
    added = send(alice, base, {"email": "carol@example.com", "role": "viewer"}, target="members")
    assert added.status_code == 200, added.text
    # Only the members section comes back, ready to replace itself.
    assert added.text.lstrip().startswith('<section id="members"')
    assert "carol@example.com is now viewer of alpha." in added.text
    assert _role(world, "carol") == "viewer"

    carol_id = world.people["carol"].id
    changed = send(alice, f"{base}/{carol_id}/role", {"role": "member"}, target="members")
    assert changed.status_code == 200
    assert _role(world, "carol") == "member"

    removed = send(alice, f"{base}/{carol_id}/remove", target="members")
    assert removed.status_code == 200
    assert _role(world, "carol") is None
    assert "carol@example.com was removed" in removed.text


def test_member_form_errors_are_shown_beside_the_fields(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    base = "/t/alpha/settings/members"
    unknown = send(alice, base, {"email": "nobody@example.com", "role": "member"}, target="members")
    assert unknown.status_code == 404
    assert 'id="member-email-error"' in unknown.text
    assert 'aria-invalid="true"' in unknown.text
    assert 'value="nobody@example.com"' in unknown.text
    bad_role = send(alice, base, {"email": "carol@example.com", "role": "king"}, target="members")
    assert bad_role.status_code == 422
    assert 'id="member-role-error"' in bad_role.text
    assert _role(world, "carol") is None


def test_the_last_owner_cannot_step_down(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    alice_id = world.people["alice"].id
    response = send(
        alice, f"/t/alpha/settings/members/{alice_id}/role", {"role": "member"}, target="members"
    )
    assert response.status_code == 409
    assert "A team needs an owner" in response.text
    assert "Make another member an owner" in response.text
    assert _role(world, "alice") == Role.OWNER.value


def test_an_owner_who_leaves_is_sent_home(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    bob_id, alice_id = world.people["bob"].id, world.people["alice"].id
    base = "/t/alpha/settings/members"
    send(alice, f"{base}/{bob_id}/role", {"role": "owner"}, target="members")
    response = send(alice, f"{base}/{alice_id}/remove", target="members")
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/"
    assert _role(world, "alice") is None


def test_plugins_that_failed_to_load_are_listed(
    signed_in: Callable[[str], TestClient],
    world: World,
    registry: PluginRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry.failures, "broken", "import failed: ImportError: no module x")
    admin = signed_in("root").get("/t/alpha/settings").text
    assert "broken" in admin and "import failed: ImportError: no module x" in admin
    owner = signed_in("alice").get("/t/alpha/settings").text
    assert "broken" in owner and "unavailable" in owner
    assert "no module x" not in owner
