"""Inbound webhooks, sent over real HTTP and signed exactly as GitHub, Alertmanager and
Standard Webhooks senders sign them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from opsyard.config import Settings
from opsyard.webhooks.signing import new_secret
from tests.conftest import World
from tests.core.webhooks.helpers import now, run_job

PROCESS = "core.inbound.process"


@pytest.fixture
def sender(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=10) as found:
        yield found


def integrate(client: TestClient, world: World, provider: str, team: str = "alpha") -> Any:
    owner = "alice" if team == "alpha" else "carol"
    response = client.post(
        f"/api/v1/teams/{team}/integrations",
        json={"provider": provider, "name": f"our {provider}"},
        headers=world.auth(owner),
    )
    assert response.status_code == 201, response.text
    return response.json()


def path_of(integration: dict[str, Any]) -> str:
    return f"/api/v1/hooks/{integration['provider']}/{integration['id']}"


def github_request(
    secret: str, payload: dict[str, Any], *, delivery: str | None = None, event: str = "issues"
) -> tuple[bytes, dict[str, str]]:
    """A request as GitHub sends it (docs: "Validating webhook deliveries")."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def alertmanager_body(status: str = "firing", version: str = "4") -> bytes:
    """A webhook_config notification body (Alertmanager docs, payload version 4)."""
    return json.dumps(
        {
            "version": version,
            "groupKey": '{}:{alertname="HighLatency"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "opsyard",
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency", "severity": "page"},
            "commonAnnotations": {"summary": "p99 above 2s"},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": "HighLatency", "instance": "api-1"},
                    "annotations": {"summary": "p99 above 2s"},
                    "startsAt": "2026-11-27T07:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example:9090/graph",
                    "fingerprint": "c5a1e8e4d6c9f2a1",
                }
            ],
        }
    ).encode()


def standard_request(
    secret: str, payload: dict[str, Any], *, msg_id: str | None = None, at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """A request as a Standard Webhooks sender signs it, with the reference library."""
    body = json.dumps(payload)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return body.encode(), {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


def received_log(client: TestClient, world: World, integration: dict[str, Any]) -> Any:
    response = client.get(
        f"/api/v1/teams/alpha/integrations/{integration['id']}/deliveries",
        headers=world.auth("alice"),
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_owners_create_integrations_and_see_the_secret_once(
    client: TestClient, world: World, settings: Settings
) -> None:
    created = integrate(client, world, "github")
    assert created["url"] == f"{settings.base_url}/api/v1/hooks/github/{created['id']}"
    assert len(created["id"]) > 30  # unguessable
    listed = client.get("/api/v1/teams/alpha/integrations", headers=world.auth("alice"))
    assert created["secret"] not in listed.text
    assert listed.json()[0]["url"] == created["url"]
    standard = integrate(client, world, "standard")
    assert standard["secret"].startswith("whsec_")
    for who, status in (("bob", 403), ("vera", 403), ("carol", 404)):
        response = client.get("/api/v1/teams/alpha/integrations", headers=world.auth(who))
        assert response.status_code == status
    bad = client.post(
        "/api/v1/teams/alpha/integrations",
        json={"provider": "gitlab"},
        headers=world.auth("alice"),
    )
    assert bad.status_code == 422


def test_a_signed_github_delivery_is_accepted_then_processed_once(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "github")
    body, headers = github_request(integration["secret"], {"action": "opened", "issue": {"n": 1}})
    response = sender.post(path_of(integration), content=body, headers=headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": True, "duplicate": False}
    # Nothing is handed on during the request: the job does it.
    assert received["handle_inbound_webhook"] == []
    run_job(world.ctx, PROCESS, now())
    [delivery] = received["handle_inbound_webhook"]
    assert delivery.provider == "github"
    assert delivery.team_slug == "alpha"
    assert delivery.event == "issues"
    assert delivery.delivery_id == headers["X-GitHub-Delivery"]
    assert delivery.payload == {"action": "opened", "issue": {"n": 1}}
    run_job(world.ctx, PROCESS, now() + timedelta(minutes=10))
    assert len(received["handle_inbound_webhook"]) == 1
    [logged] = received_log(client, world, integration)
    assert logged["status"] == "processed"
    assert logged["handled_by"] == ["fixture"]


def test_github_form_encoded_deliveries_are_verified_on_the_raw_body(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "github")
    body = urlencode({"payload": json.dumps({"zen": "Keep it simple."})}).encode()
    digest = hmac.new(integration["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    assert sender.post(path_of(integration), content=body, headers=headers).status_code == 202
    run_job(world.ctx, PROCESS, now())
    assert received["handle_inbound_webhook"][0].payload == {"zen": "Keep it simple."}


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "sha256=" + "0" * 64,
        "sha1=abc",
        b"sha256=not-hex-at-all\xe9",
    ],
)
def test_a_bad_github_signature_gets_401_before_the_body_is_read(
    client: TestClient, world: World, sender: httpx.Client, signature: str | bytes | None
) -> None:
    integration = integrate(client, world, "github")
    _, signed = github_request(integration["secret"], {})
    del signed["X-Hub-Signature-256"]
    headers = {k.encode(): v.encode() for k, v in signed.items()}
    if signature is not None:
        headers[b"X-Hub-Signature-256"] = (
            signature if isinstance(signature, bytes) else signature.encode()
        )
    # Not JSON at all: a 401 rather than a 400 shows verification came before parsing.
    response = sender.post(path_of(integration), content=b"{not json", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "webhooks.signature_invalid"
    assert received_log(client, world, integration) == []


def test_a_signed_body_that_is_not_a_json_object_gets_400(
    client: TestClient, world: World, sender: httpx.Client
) -> None:
    integration = integrate(client, world, "standard")
    for body in ("[1, 2]", "[" * 100_000 + "]" * 100_000, "not json"):
        msg_id, at = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(integration["secret"]).sign(msg_id, at, body),
        }
        response = sender.post(path_of(integration), content=body.encode(), headers=headers)
        assert response.status_code == 400, body[:10]
        assert response.json()["code"] == "webhooks.payload_invalid"


def test_a_replayed_delivery_is_acknowledged_again_and_processed_once(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "github")
    body, headers = github_request(integration["secret"], {"action": "closed"})
    first = sender.post(path_of(integration), content=body, headers=headers)
    run_job(world.ctx, PROCESS, now())
    again = sender.post(path_of(integration), content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["duplicate"] is True
    run_job(world.ctx, PROCESS, now() + timedelta(minutes=1))
    assert len(received["handle_inbound_webhook"]) == 1
    [logged] = received_log(client, world, integration)
    assert logged["duplicates"] == 1


def test_a_team_that_switched_the_plugin_off_does_not_reach_it(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "github")
    client.delete("/api/v1/teams/alpha/plugins/fixture", headers=world.auth("alice"))
    body, headers = github_request(integration["secret"], {"action": "opened"})
    assert sender.post(path_of(integration), content=body, headers=headers).status_code == 202
    run_job(world.ctx, PROCESS, now())
    assert received["handle_inbound_webhook"] == []
    [logged] = received_log(client, world, integration)
    assert (logged["status"], logged["handled_by"]) == ("processed", [])


def test_alertmanager_authenticates_with_a_bearer_secret(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "alertmanager")
    good = {"Authorization": f"Bearer {integration['secret']}", "Content-Type": "application/json"}
    path = path_of(integration)
    assert sender.post(path, content=alertmanager_body(), headers=good).status_code == 202
    # Alertmanager repeats an unchanged notification; it counts once.
    repeat = sender.post(path, content=alertmanager_body(), headers=good)
    assert repeat.json()["duplicate"] is True
    resolved = sender.post(path, content=alertmanager_body("resolved"), headers=good)
    assert resolved.json()["duplicate"] is False
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
        refused = sender.post(path, content=alertmanager_body(), headers=header)
        assert refused.status_code == 401
        assert refused.json()["code"] == "webhooks.signature_invalid"
    old = sender.post(path, content=alertmanager_body(version="3"), headers=good)
    assert old.status_code == 400
    assert old.json()["code"] == "webhooks.payload_invalid"
    run_job(world.ctx, PROCESS, now())
    assert [d.event for d in received["handle_inbound_webhook"]] == ["firing", "resolved"]
    assert received["handle_inbound_webhook"][0].payload["commonLabels"]["severity"] == "page"


def test_standard_webhooks_are_verified_with_the_reference_library(
    client: TestClient, world: World, sender: httpx.Client, received: dict[str, list[Any]]
) -> None:
    integration = integrate(client, world, "standard")
    secret = integration["secret"]
    path = path_of(integration)
    payload = {"type": "deploy.finished", "timestamp": "2026-11-27T07:00:00Z", "data": {}}
    body, headers = standard_request(secret, payload)
    assert sender.post(path, content=body, headers=headers).status_code == 202
    assert sender.post(path, content=body, headers=headers).json()["duplicate"] is True
    tampered = body.replace(b"finished", b"started!")
    assert sender.post(path, content=tampered, headers=headers).status_code == 401
    stale_body, stale = standard_request(secret, payload, at=now() - timedelta(minutes=10))
    assert sender.post(path, content=stale_body, headers=stale).status_code == 401
    other_body, other = standard_request(new_secret(), payload)
    assert sender.post(path, content=other_body, headers=other).status_code == 401
    run_job(world.ctx, PROCESS, now())
    [delivery] = received["handle_inbound_webhook"]
    assert (delivery.provider, delivery.event) == ("standard", "deploy.finished")
    assert delivery.delivery_id == headers["webhook-id"]


def test_a_rotated_secret_keeps_the_old_one_valid_for_the_overlap(
    client: TestClient, world: World, sender: httpx.Client
) -> None:
    integration = integrate(client, world, "github")
    rotated = client.post(
        f"/api/v1/teams/alpha/integrations/{integration['id']}/rotate-secret",
        headers=world.auth("alice"),
    ).json()
    for secret in (integration["secret"], rotated["secret"]):
        body, headers = github_request(secret, {"n": secret[:4]})
        assert sender.post(path_of(integration), content=body, headers=headers).status_code == 202


def test_unknown_endpoints_all_look_the_same(
    client: TestClient, world: World, sender: httpx.Client
) -> None:
    integration = integrate(client, world, "github")
    client.patch(
        f"/api/v1/teams/alpha/integrations/{integration['id']}",
        json={"enabled": False},
        headers=world.auth("alice"),
    )
    body, headers = github_request(integration["secret"], {})
    answers = [
        sender.post(f"/api/v1/hooks/github/ih_{'x' * 32}", content=body, headers=headers),
        sender.post(f"/api/v1/hooks/standard/{integration['id']}", content=body, headers=headers),
        sender.post(f"/api/v1/hooks/gitlab/{integration['id']}", content=body, headers=headers),
        sender.post(path_of(integration), content=body, headers=headers),  # switched off
    ]
    assert {a.status_code for a in answers} == {404}
    shown = [{k: v for k, v in a.json().items() if k != "instance"} for a in answers]
    assert all(s == shown[0] for s in shown)
    assert integration["id"] not in answers[3].text


def test_bodies_over_the_limit_get_413(
    client: TestClient, world: World, sender: httpx.Client, settings: Settings
) -> None:
    integration = integrate(client, world, "github")
    limit = settings.inbound_max_body_bytes
    big = b'{"pad": "' + b"x" * limit + b'"}'
    _, headers = github_request(integration["secret"], {})
    response = sender.post(path_of(integration), content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "webhooks.payload_too_large"

    def chunked() -> Iterator[bytes]:
        # No Content-Length: the limit holds while the body streams in.
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = sender.post(path_of(integration), content=chunked(), headers=headers)
    assert streamed.status_code == 413
    # Just under the limit is fine (the signature is then what decides).
    small = b"x" * (limit - 10)
    digest = hmac.new(integration["secret"].encode(), small, hashlib.sha256).hexdigest()
    headers["X-Hub-Signature-256"] = f"sha256={digest}"
    response = sender.post(path_of(integration), content=small, headers=headers)
    assert response.status_code == 400  # verified, then found not to be JSON


def test_the_hook_route_needs_no_login_but_only_takes_posts(
    client: TestClient, world: World
) -> None:
    integration = integrate(client, world, "github")
    client.cookies.clear()
    assert client.get(path_of(integration)).status_code == 405
    assert client.post(path_of(integration), content=b"{}").status_code == 401
