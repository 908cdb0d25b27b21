"""Teams and members through /api/v1/teams, with the audit trail they leave."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World


def test_creating_a_team_makes_the_creator_owner(client: TestClient, world: World) -> None:
    headers = world.auth("bob")
    response = client.post(
        "/api/v1/teams", json={"slug": "search", "name": "Search"}, headers=headers
    )
    assert response.status_code == 201
    assert response.json()["role"] == "owner"
    slugs = {t["slug"]: t["role"] for t in client.get("/api/v1/teams", headers=headers).json()}
    assert slugs == {"alpha": "member", "search": "owner"}


def test_a_bad_slug_says_how_to_fix_it(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/teams", json={"slug": "Not OK!"}, headers=world.auth("bob"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/slug"
    assert "lowercase" in response.json()["errors"][0]["detail"]


def test_site_admins_see_every_team(client: TestClient, world: World) -> None:
    teams = client.get("/api/v1/teams", headers=world.auth("root")).json()
    assert {t["slug"] for t in teams} == {"alpha", "beta"}
    assert client.get("/api/v1/teams/beta/members", headers=world.auth("root")).status_code == 200


def test_owners_manage_members(client: TestClient, world: World) -> None:
    headers = world.auth("alice")
    added = client.post(
        "/api/v1/teams/alpha/members",
        json={"email": "carol@example.com", "role": "viewer"},
        headers=headers,
    )
    assert added.status_code == 201
    promoted = client.put(
        "/api/v1/teams/alpha/members/carol@example.com", json={"role": "member"}, headers=headers
    )
    assert promoted.json()["role"] == "member"
    assert client.get("/api/v1/teams/alpha", headers=world.auth("carol")).json()["role"] == "member"
    removed = client.delete("/api/v1/teams/alpha/members/carol@example.com", headers=headers)
    assert removed.status_code == 204
    assert client.get("/api/v1/teams/alpha", headers=world.auth("carol")).status_code == 404


def test_the_last_owner_stays(client: TestClient, world: World) -> None:
    headers = world.auth("alice")
    demoted = client.put(
        "/api/v1/teams/alpha/members/alice@example.com", json={"role": "member"}, headers=headers
    )
    assert demoted.status_code == 409
    assert demoted.json()["code"] == "teams.last_owner"
    removed = client.delete("/api/v1/teams/alpha/members/alice@example.com", headers=headers)
    assert removed.json()["code"] == "teams.last_owner"


def test_unknown_member_email_is_404(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams/alpha/members",
        json={"email": "nobody@example.com"},
        headers=world.auth("alice"),
    )
    assert response.status_code == 404


def test_changes_are_audited_and_shown_to_owners(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/teams/alpha/members",
        json={"email": "carol@example.com", "role": "viewer"},
        headers=world.auth("alice"),
    )
    entries = client.get("/api/v1/teams/alpha/audit", headers=world.auth("alice")).json()
    latest = entries[0]
    assert latest["action"] == "team.member_added"
    assert latest["actor"] == "alice@example.com"
    assert latest["target"] == "carol@example.com"
    assert latest["detail"] == {"role": "viewer"}
    # Members see no audit log; beta's owner sees none of alpha's; admins see everything.
    assert client.get("/api/v1/teams/alpha/audit", headers=world.auth("bob")).status_code == 403
    beta = client.get("/api/v1/teams/beta/audit", headers=world.auth("carol")).json()
    assert all(
        e["target"] != "carol@example.com"
        or e["action"] != "team.member_added"
        or e["detail"].get("role") == "owner"
        for e in beta
    )
    site = client.get("/api/v1/audit", headers=world.auth("root")).json()
    assert site[0]["action"] == "team.member_added"
    assert client.get("/api/v1/audit", headers=world.auth("alice")).status_code == 403


def test_users_are_managed_by_site_admins(client: TestClient, world: World) -> None:
    created = client.post(
        "/api/v1/users",
        json={"email": "Dan@Example.com", "password": "long enough pw"},
        headers=world.auth("root"),
    )
    assert created.status_code == 201
    assert created.json()["email"] == "dan@example.com"
    assert (
        client.post(
            "/api/v1/users", json={"email": "x@example.com"}, headers=world.auth("alice")
        ).status_code
        == 403
    )
    short = client.post(
        "/api/v1/users",
        json={"email": "e@example.com", "password": "short"},
        headers=world.auth("root"),
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["pointer"] == "/password"
    bad = client.post("/api/v1/users", json={"email": "not-an-email"}, headers=world.auth("root"))
    assert bad.status_code == 422
