"""CSRF: every state change from a browser session needs the token; Bearer API calls do not."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from opsyard.teams import service as teams
from tests.conftest import PASSWORD, World
from tests.web.conftest import csrf_token, login, send


def test_login_without_the_token_is_refused(client: TestClient, world: World) -> None:
    data = {"email": "alice@example.com", "password": PASSWORD}
    response = send(client, "/login", data, csrf=False)
    assert response.status_code == 403
    assert "Form expired" in response.text
    assert "Reload the page and submit again." in response.text
    assert "opsyard_session" not in client.cookies


def test_login_with_a_token_from_another_browser_is_refused(
    client: TestClient, world: World
) -> None:
    client.get("/login")
    data = {"email": "alice@example.com", "password": PASSWORD}
    forged = "x" + csrf_token(client)[1:]
    response = send(client, "/login", data, csrf=False, headers={"x-csrftoken": forged})
    assert response.status_code == 403


def test_a_signed_in_form_post_needs_the_token(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    refused = send(alice, "/teams/new", {"slug": "gamma"}, csrf=False)
    assert refused.status_code == 403
    assert "Form expired" in refused.text
    accepted = send(alice, "/teams/new", {"slug": "gamma"})
    assert accepted.status_code == 303
    with world.session() as session:
        assert teams.get_by_slug(session, "gamma") is not None


def test_htmx_csrf_failures_land_in_the_flash_area(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    response = send(
        alice, "/t/alpha/settings/plugins/fixture", {"enabled": "false"}, htmx=True, csrf=False
    )
    assert response.status_code == 403
    assert response.headers["hx-retarget"] == "#flash"
    assert 'role="alert"' in response.text
    with world.session() as session:
        assert teams.is_enabled(session, session.merge(world.teams["alpha"]), "fixture")


def test_the_api_with_a_session_cookie_needs_the_token_too(
    signed_in: Callable[[str], TestClient],
) -> None:
    alice = signed_in("alice")
    response = alice.post("/api/v1/teams", json={"slug": "delta"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "auth.csrf_failed"


def test_bearer_api_calls_need_no_csrf_token(client: TestClient, world: World) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/teams", json={"slug": "delta"}, headers=world.auth("alice"))
    assert response.status_code == 201, response.text


def test_safe_requests_set_the_cookie_once(client: TestClient) -> None:
    first = client.get("/login")
    assert "opsyard_csrf=" in first.headers["set-cookie"]
    assert "HttpOnly" in first.headers["set-cookie"]
    second = client.get("/login")
    assert "opsyard_csrf=" not in second.headers.get("set-cookie", "")


def test_a_tampered_cookie_is_replaced(client: TestClient, world: World) -> None:
    client.get("/login")
    cookie = next(c for c in client.cookies.jar if c.name == "opsyard_csrf")
    client.cookies.set("opsyard_csrf", "not-a-signed-token", domain=cookie.domain)
    response = client.get("/login")
    assert "opsyard_csrf=" in response.headers["set-cookie"]
    assert client.cookies["opsyard_csrf"] != "not-a-signed-token"
    assert login(client, "alice").status_code == 303
