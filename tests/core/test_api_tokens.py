"""API tokens: shown once, stored hashed, prefixed, expiring, revocable, scoped."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.auth.models import ApiToken
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from tests.conftest import World


def _create(client: TestClient, world: World, who: str = "alice", **body: object) -> dict:
    response = client.post("/api/v1/tokens", json=body, headers=world.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_token_is_shown_once_and_stored_only_as_a_hash(client: TestClient, world: World) -> None:
    issued = _create(client, world, name="ci")
    plaintext = issued["token"]
    assert plaintext.startswith("opsy_")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code
        == 200
    )
    listed = client.get("/api/v1/tokens", headers=world.auth("alice")).json()
    assert all("token" not in t for t in listed)
    with world.session() as session:
        stored = session.scalar(select(ApiToken).where(ApiToken.lookup_id == issued["id"]))
        assert stored is not None
        assert plaintext.split("_", 2)[2] not in stored.secret_hash
        assert stored.last_used_at is not None


def test_revoked_and_expired_tokens_stop_working(client: TestClient, world: World) -> None:
    issued = _create(client, world)
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert (
        client.delete(f"/api/v1/tokens/{issued['id']}", headers=world.auth("alice")).status_code
        == 204
    )
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_invalid"

    second = _create(client, world)
    with session_scope(world.ctx.sessions) as session:
        token = session.scalar(select(ApiToken).where(ApiToken.lookup_id == second["id"]))
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
    expired = client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['token']}"})
    assert expired.status_code == 401


def test_a_tampered_secret_is_refused(client: TestClient, world: World) -> None:
    plaintext = _create(client, world)["token"]
    tampered = plaintext[:-2] + ("AA" if not plaintext.endswith("AA") else "BB")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )


def test_a_token_role_caps_the_user_role(client: TestClient, world: World) -> None:
    issued = _create(client, world, team="alpha", role="viewer")
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/teams/alpha", headers=headers).json()["role"] == "viewer"
    write = client.post("/api/v1/teams/alpha/fixture/notes", json={"text": "x"}, headers=headers)
    assert write.status_code == 403
    # A scoped token cannot mint further tokens or create teams.
    assert client.post("/api/v1/tokens", json={}, headers=headers).status_code == 403
    assert client.post("/api/v1/teams", json={"slug": "x"}, headers=headers).status_code == 403
    assert [t["slug"] for t in client.get("/api/v1/teams", headers=headers).json()] == ["alpha"]


def test_a_token_for_a_team_you_are_not_in_is_refused(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/tokens", json={"team": "beta"}, headers=world.auth("alice"))
    assert response.status_code == 404


def test_nobody_revokes_someone_elses_token(client: TestClient, world: World) -> None:
    issued = _create(client, world)
    response = client.delete(f"/api/v1/tokens/{issued['id']}", headers=world.auth("bob"))
    assert response.status_code == 404
    assert (
        client.delete(f"/api/v1/tokens/{issued['id']}", headers=world.auth("root")).status_code
        == 204
    )


def test_a_role_without_a_team_is_refused(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/tokens", json={"role": "viewer"}, headers=world.auth("alice"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/team"


def test_deactivated_users_tokens_stop_working(client: TestClient, world: World) -> None:
    from opsyard.auth import users

    with session_scope(world.ctx.sessions) as session:
        users.deactivate(session, session.merge(world.people["bob"]), actor=None)
    assert client.get("/api/v1/me", headers=world.auth("bob")).status_code == 401
