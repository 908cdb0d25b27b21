"""/api/v1/teams/{team}/webhooks: owners manage subscriptions; secrets are shown once."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World
from tests.core.webhooks.helpers import subscribe

URL = "http://127.0.0.1:9/hook"


def test_create_shows_the_secret_once(client: TestClient, world: World) -> None:
    created = subscribe(client, world, URL, event_types=["fixture.note.created", "*"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["event_types"] == ["*", "fixture.note.created"]
    assert created["enabled"] is True
    headers = world.auth("alice")
    listed = client.get("/api/v1/teams/alpha/webhooks", headers=headers)
    one = client.get(f"/api/v1/teams/alpha/webhooks/{created['id']}", headers=headers)
    for response in (listed, one):
        assert response.status_code == 200
        assert secret not in response.text
    assert "secret" not in listed.json()[0]
    assert "secret" not in one.json()


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_only_owners_manage_or_read_subscriptions(
    client: TestClient, world: World, who: str
) -> None:
    created = subscribe(client, world, URL)
    headers = world.auth(who)
    body = {"url": URL, "event_types": ["*"]}
    assert (
        client.post("/api/v1/teams/alpha/webhooks", json=body, headers=headers).status_code == 403
    )
    assert client.get("/api/v1/teams/alpha/webhooks", headers=headers).status_code == 403
    path = f"/api/v1/teams/alpha/webhooks/{created['id']}/rotate-secret"
    assert client.post(path, headers=headers).status_code == 403


def test_another_teams_subscription_does_not_exist(client: TestClient, world: World) -> None:
    created = subscribe(client, world, URL)
    carol = world.auth("carol")
    assert client.get("/api/v1/teams/alpha/webhooks", headers=carol).status_code == 404
    # Not through carol's own team either.
    response = client.get(f"/api/v1/teams/beta/webhooks/{created['id']}", headers=carol)
    assert response.status_code == 404
    assert response.json()["code"] == "resource.not_found"


def test_private_targets_are_refused_unless_allowed(client: TestClient, world: World) -> None:
    world.ctx.settings.allow_private_targets = False
    for url in (URL, "http://10.1.2.3/hook", "http://[::1]:8080/hook", "http://localhost/hook"):
        response = client.post(
            "/api/v1/teams/alpha/webhooks",
            json={"url": url, "event_types": ["*"]},
            headers=world.auth("alice"),
        )
        assert response.status_code == 422, url
        assert response.json()["code"] == "net.target_refused"
        assert response.json()["errors"][0]["pointer"] == "/url"


def test_only_http_urls_are_accepted_even_when_private_ones_are(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/api/v1/teams/alpha/webhooks",
        json={"url": "file:///etc/passwd", "event_types": ["*"]},
        headers=world.auth("alice"),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "net.target_refused"


def test_urls_the_sender_cannot_use_are_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams/alpha/webhooks",
        json={"url": "http://[::1/hook", "event_types": ["*"]},
        headers=world.auth("alice"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/url"


def test_unknown_event_types_are_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams/alpha/webhooks",
        json={"url": URL, "event_types": ["fixture.note.created", "nope.never"]},
        headers=world.auth("alice"),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "/event_types/1", "detail": "'nope.never' is not a declared event type."}
    ]


def test_update_disable_enable_and_delete(client: TestClient, world: World) -> None:
    created = subscribe(client, world, URL)
    path = f"/api/v1/teams/alpha/webhooks/{created['id']}"
    headers = world.auth("alice")
    disabled = client.patch(path, json={"enabled": False, "description": "x"}, headers=headers)
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "Disabled by a team owner."
    enabled = client.patch(path, json={"enabled": True, "event_types": ["*"]}, headers=headers)
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    assert enabled.json()["event_types"] == ["*"]
    assert enabled.json()["description"] == "x"
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404
    actions = [e["action"] for e in client.get("/api/v1/teams/alpha/audit", headers=headers).json()]
    assert actions[:4] == [
        "webhook.deleted",
        "webhook.updated",
        "webhook.updated",
        "webhook.created",
    ]


def test_rotating_returns_a_new_secret_and_the_overlap(client: TestClient, world: World) -> None:
    created = subscribe(client, world, URL)
    path = f"/api/v1/teams/alpha/webhooks/{created['id']}/rotate-secret"
    rotated = client.post(path, headers=world.auth("alice")).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None
