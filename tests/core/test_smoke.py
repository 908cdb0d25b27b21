from tests.conftest import World


def test_me(client, world: World) -> None:
    r = client.get("/api/v1/me", headers=world.auth("alice"))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "alice@example.com"
