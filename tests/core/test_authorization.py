"""Every route is authorised: walks all routes the app has, including plugin routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from tests.conftest import World
from tests.core.routes import Endpoint, endpoints


@pytest.fixture(autouse=True)
def _every_plugin_on(world: World) -> None:
    """Both teams switch on every installed plugin, so each plugin route answers with its
    own authorisation decision rather than 404 for a plugin that is off."""
    with session_scope(world.ctx.sessions) as session:
        for team in world.teams.values():
            for plugin in world.ctx.registry.names:
                teams.enable_plugin(session, team=session.merge(team), plugin=plugin, actor=None)


def _call(client: TestClient, endpoint: Endpoint, url: str, **kwargs: object):
    return client.request(endpoint.method, url, follow_redirects=False, **kwargs)


def test_the_walk_sees_core_plugin_and_web_routes(app: FastAPI) -> None:
    templates = {e.template for e in endpoints(app)}
    assert "/api/v1/teams/{team}/members" in templates
    assert "/api/v1/teams/{team}/fixture/notes" in templates
    assert "/t/{team}/fixture/" in templates
    assert "/login" in templates


def test_anonymous_requests_are_refused_everywhere_but_the_allowlist(
    app: FastAPI, client: TestClient, world: World
) -> None:
    checked = 0
    for endpoint in endpoints(app):
        if endpoint.is_public:
            continue
        response = _call(client, endpoint, endpoint.url())
        if endpoint.is_api:
            assert response.status_code == 401, (endpoint, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "auth.unauthenticated"
        elif endpoint.template in ("/metrics", "/openapi.json"):
            assert response.status_code == 401, endpoint
        else:
            assert response.status_code in (302, 303), (endpoint, response.status_code)
            assert response.headers["location"].startswith("/login"), endpoint
        checked += 1
    assert checked > 20


def test_a_member_of_another_team_gets_404_for_every_team_route(
    app: FastAPI, client: TestClient, world: World
) -> None:
    # carol owns beta only; every alpha resource must look as if it did not exist.
    client.cookies.clear()
    team_routes = [e for e in endpoints(app) if e.is_team_scoped and e.is_api]
    assert len(team_routes) > 8
    for endpoint in team_routes:
        response = _call(client, endpoint, endpoint.url("alpha"), headers=world.auth("carol"))
        assert response.status_code == 404, (endpoint, response.status_code, response.text)
        assert response.json()["code"] == "resource.not_found"


def test_a_viewer_cannot_change_anything(app: FastAPI, client: TestClient, world: World) -> None:
    writes = [e for e in endpoints(app) if e.is_team_scoped and e.is_api and e.changes_state]
    assert len(writes) >= 5
    for endpoint in writes:
        response = _call(
            client, endpoint, endpoint.url("alpha"), headers=world.auth("vera"), json={}
        )
        assert response.status_code == 403, (endpoint, response.status_code, response.text)
        assert response.json()["code"] == "auth.forbidden"


def test_a_token_scoped_to_one_team_sees_nothing_of_another(
    client: TestClient, world: World
) -> None:
    from opsyard.auth import tokens
    from opsyard.db.engine import session_scope

    with session_scope(world.ctx.sessions) as session:
        scoped = tokens.issue(
            session,
            user=session.merge(world.people["root"]),
            team=session.merge(world.teams["beta"]),
            expires_in_days=1,
            actor=None,
        ).plaintext
    headers = {"Authorization": f"Bearer {scoped}"}
    assert client.get("/api/v1/teams/beta", headers=headers).status_code == 200
    assert client.get("/api/v1/teams/alpha", headers=headers).status_code == 404
    # A scoped token never carries site-admin powers, even for an admin.
    assert client.get("/api/v1/users", headers=headers).status_code == 403


@pytest.mark.parametrize("who", ["alice", "bob", "vera"])
def test_members_reach_their_own_team(client: TestClient, world: World, who: str) -> None:
    response = client.get("/api/v1/teams/alpha/fixture/notes", headers=world.auth(who))
    assert response.status_code == 200


def test_a_disabled_plugin_answers_404(client: TestClient, world: World) -> None:
    headers = world.auth("alice")
    assert client.delete("/api/v1/teams/alpha/plugins/fixture", headers=headers).status_code == 200
    response = client.get("/api/v1/teams/alpha/fixture/notes", headers=headers)
    assert response.status_code == 404
    assert client.put("/api/v1/teams/alpha/plugins/fixture", headers=headers).status_code == 200
    assert client.get("/api/v1/teams/alpha/fixture/notes", headers=headers).status_code == 200


# The web pages, walked the same way: signed in through the login form, forms sent with the
# CSRF header a page's htmx sends, so each answer is the route's own authorisation decision.


@pytest.fixture
def browser(app: FastAPI, world: World) -> Iterator[Callable[[str], TestClient]]:
    from tests.web.conftest import login

    opened: list[TestClient] = []

    def make(who: str) -> TestClient:
        signed_in = TestClient(app, raise_server_exceptions=False)
        signed_in.__enter__()
        opened.append(signed_in)
        assert login(signed_in, who).status_code == 303
        return signed_in

    yield make
    for signed_in in opened:
        signed_in.__exit__(None, None, None)


def _page_call(browser: TestClient, endpoint: Endpoint, url: str) -> int:
    from tests.web.conftest import send

    if endpoint.changes_state:
        return send(browser, url, htmx=True).status_code
    return browser.get(url, follow_redirects=False).status_code


def test_a_member_of_another_team_gets_404_for_every_team_page(
    app: FastAPI, browser: Callable[[str], TestClient]
) -> None:
    carol = browser("carol")
    pages = [e for e in endpoints(app) if e.is_team_scoped and not e.is_api]
    assert len(pages) > 20
    for endpoint in pages:
        status = _page_call(carol, endpoint, endpoint.url("alpha"))
        assert status == 404, (endpoint, status)


def test_a_viewer_cannot_change_anything_from_the_pages(
    app: FastAPI, browser: Callable[[str], TestClient]
) -> None:
    vera = browser("vera")
    writes = [e for e in endpoints(app) if e.is_team_scoped and not e.is_api and e.changes_state]
    assert len(writes) > 15
    for endpoint in writes:
        status = _page_call(vera, endpoint, endpoint.url("alpha"))
        assert status == 403, (endpoint, status)


def test_site_admin_pages_refuse_everyone_else(
    app: FastAPI, browser: Callable[[str], TestClient]
) -> None:
    alice = browser("alice")
    admin_pages = [e for e in endpoints(app) if e.template.startswith("/admin/")]
    assert {"/admin/audit", "/admin/jobs"} <= {e.template for e in admin_pages}
    for endpoint in admin_pages:
        assert _page_call(alice, endpoint, endpoint.url()) == 403, endpoint
