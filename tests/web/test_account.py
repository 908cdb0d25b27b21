"""The account page: API tokens shown once and revocable, and changing the password."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, World
from tests.web.conftest import login, send

TOKEN = re.compile(r'value="(opsy_[A-Za-z0-9_-]+)"')


def _create(browser: TestClient, **fields: str) -> tuple[int, str]:
    data = {"name": "laptop", "team": "", "role": "", "expires_in_days": "30", **fields}
    response = send(browser, "/account/tokens", data, target="tokens")
    return response.status_code, response.text


def test_a_new_token_is_shown_once_and_works_against_the_api(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    bob = signed_in("bob")
    status, section = _create(bob)
    assert status == 200, section
    assert section.lstrip().startswith('<section id="tokens"')
    assert "it is shown only this once" in section
    assert 'data-copy-target="new-token"' in section
    plaintext = TOKEN.search(section).group(1)  # type: ignore[union-attr]

    page = bob.get("/account").text
    assert plaintext not in page
    lookup_id = plaintext.removeprefix("opsy_").split("_")[0]
    assert f"opsy_{lookup_id}" in page  # listed by its public id only

    client.cookies.clear()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status_code == 200
    assert me.json()["email"] == "bob@example.com"


def test_a_token_limited_to_a_team_and_role(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    alice = signed_in("alice")
    status, section = _create(alice, team="alpha", role="viewer")
    assert status == 200
    plaintext = TOKEN.search(section).group(1)  # type: ignore[union-attr]
    assert '<td data-label="Team">alpha</td>' in section
    assert '<td data-label="Role">viewer</td>' in section
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/teams/alpha", headers=headers).json()["role"] == "viewer"


def test_token_form_errors_are_shown_beside_the_fields(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, section = _create(alice, expires_in_days="1000")
    assert status == 422
    assert 'id="token-expires_in_days-error"' in section
    assert 'value="1000"' in section
    status, section = _create(alice, expires_in_days="soon")
    assert status == 422
    assert "Give a whole number of days" in section
    status, section = _create(alice, role="owner")
    assert status == 422
    assert 'id="token-team-error"' in section
    status, section = _create(alice, team="beta")  # not hers: looks like it does not exist
    assert status == 404
    assert 'id="token-team-error"' in section
    assert not TOKEN.search(section)


def test_revoking_a_token_stops_it(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    bob = signed_in("bob")
    _, section = _create(bob)
    plaintext = TOKEN.search(section).group(1)  # type: ignore[union-attr]
    lookup_id = plaintext.removeprefix("opsy_").split("_")[0]
    revoked = send(bob, f"/account/tokens/{lookup_id}/revoke", target="tokens")
    assert revoked.status_code == 200
    assert "is revoked" in revoked.text
    client.cookies.clear()
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code
        == 401
    )


def test_nobody_revokes_someone_elses_token(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    lookup_id = world.tokens["bob"].removeprefix("opsy_").split("_")[0]
    response = send(signed_in("alice"), f"/account/tokens/{lookup_id}/revoke")
    assert response.status_code == 404
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=world.auth("bob")).status_code == 200


def test_changing_the_password_ends_other_sessions_but_not_this_one(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    here, elsewhere = signed_in("vera"), signed_in("vera")
    new = "a much better password"
    data = {"current_password": PASSWORD, "new_password": new}
    response = send(here, "/account/password", data, target="password")
    assert response.status_code == 200, response.text
    assert "Your password is changed" in response.text
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account", follow_redirects=False).status_code == 303
    assert login(client, "vera", password=PASSWORD).status_code == 401
    assert login(client, "vera", password=new).status_code == 303


def test_password_form_errors(signed_in: Callable[[str], TestClient], world: World) -> None:
    vera = signed_in("vera")
    wrong = send(
        vera,
        "/account/password",
        {"current_password": "nope", "new_password": "long enough"},
        target="password",
    )
    assert wrong.status_code == 401
    assert "This is not your current password." in wrong.text
    short = send(
        vera,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short"},
        target="password",
    )
    assert short.status_code == 422
    assert 'id="pw-new_password-error"' in short.text
    assert vera.get("/account").status_code == 200
