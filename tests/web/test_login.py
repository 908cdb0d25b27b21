"""Logging in and out through the form: redirects, failures, lockout, sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from opsyard.auth import users
from opsyard.db.engine import session_scope
from tests.conftest import World
from tests.web.conftest import login, send


def test_anonymous_page_visits_go_to_the_login_page(client: TestClient, world: World) -> None:
    response = client.get("/t/alpha/settings?tab=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/t/alpha/settings%3Ftab%3Dx"


def test_anonymous_htmx_requests_get_a_redirect_header(client: TestClient, world: World) -> None:
    response = client.get("/t/alpha/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=/t/alpha/"


def test_login_form_renders_with_labels_and_the_csrf_token(client: TestClient) -> None:
    response = client.get("/login?next=/t/alpha/")
    assert response.status_code == 200
    page = response.text
    assert '<label for="f-email">Email</label>' in page
    assert '<label for="f-password">Password</label>' in page
    assert 'name="next" value="/t/alpha/"' in page
    # The CSRF cookie exists before the first POST, and the page carries the same token.
    assert client.cookies["opsyard_csrf"] in page


def test_login_succeeds_and_goes_to_next(client: TestClient, world: World) -> None:
    response = login(client, "alice", next_path="/t/alpha/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/t/alpha/settings"
    assert "opsyard_session" in client.cookies
    page = client.get("/t/alpha/settings")
    assert page.status_code == 200
    assert "Alice" in page.text


def test_next_never_leaves_the_site(client: TestClient, world: World) -> None:
    for target in (
        "//evil.example/path",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
    ):
        response = login(client, "alice", next_path=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


def test_a_wrong_password_is_shown_on_the_form(client: TestClient, world: World) -> None:
    response = login(client, "alice", password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert 'value="alice@example.com"' in response.text  # the email is kept
    assert "not the password" not in response.text  # the password is not
    assert "opsyard_session" not in client.cookies


def test_repeated_failures_lock_the_account_and_say_how_long(
    client: TestClient, world: World
) -> None:
    limit = world.ctx.settings.login_max_failures
    for _ in range(limit):
        assert login(client, "bob", password="wrong password").status_code == 401
    response = login(client, "bob")  # even the right password waits for the lockout
    assert response.status_code == 429
    assert "Try again in" in response.text
    assert int(response.headers["retry-after"]) > 0


def test_logging_in_replaces_the_previous_session(client: TestClient, world: World) -> None:
    assert login(client, "alice").status_code == 303
    first = client.cookies["opsyard_session"]
    assert login(client, "bob").status_code == 303
    assert client.cookies["opsyard_session"] != first
    assert "Bob" in client.get("/account").text


def test_signed_in_visitors_skip_the_login_form(client: TestClient, world: World) -> None:
    login(client, "alice")
    response = client.get("/login?next=/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


def test_logout_ends_the_session(client: TestClient, world: World) -> None:
    login(client, "alice")
    response = send(client, "/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_deactivated_user_is_signed_out(client: TestClient, world: World) -> None:
    login(client, "bob")
    with session_scope(world.ctx.sessions) as session:
        users.deactivate(session, users.require_by_email(session, "bob@example.com"), actor=None)
    assert client.get("/", follow_redirects=False).status_code == 303
