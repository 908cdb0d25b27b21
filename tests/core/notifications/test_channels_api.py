"""Channels over the API: who may manage them, validation, and secrets shown at most once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.notifications import channels
from tests.conftest import World
from tests.core.notifications.conftest import Providers
from tests.core.notifications.helpers import ROUTING_KEY, notifications, run_sender

URL = "/api/v1/teams/alpha/channels"


def _create(client: TestClient, world: World, body: dict[str, object], who: str = "alice"):
    return client.post(URL, json=body, headers=world.auth(who))


def test_owners_add_every_kind_and_secrets_are_never_returned(
    client: TestClient, world: World, providers: Providers
) -> None:
    bodies = [
        {"kind": "pagerduty", "name": "pd", "routing_key": ROUTING_KEY},
        {"kind": "slack", "name": "slack", "webhook_url": providers.slack.hook_url},
        {"kind": "webhook", "name": "hook", "url": providers.webhook.url + "/in"},
        {"kind": "email", "name": "mail", "to": ["Ops@Example.com"]},
    ]
    created = [_create(client, world, body) for body in bodies]
    assert [r.status_code for r in created] == [201] * 4, [r.text for r in created]
    pd, slack, hook, mail = (r.json() for r in created)
    assert ROUTING_KEY not in created[0].text and pd["secret"] is None
    assert providers.slack.HOOK_PATH not in created[1].text and slack["secret"] is None
    assert hook["secret"].startswith("whsec_") and hook["url"] == providers.webhook.url + "/in"
    assert mail["to"] == ["Ops@example.com"]

    listed = client.get(URL, headers=world.auth("vera"))
    assert listed.status_code == 200
    assert [c["kind"] for c in listed.json()] == ["pagerduty", "slack", "webhook", "email"]
    for response in (listed, client.get(f"{URL}/{pd['id']}", headers=world.auth("bob"))):
        assert ROUTING_KEY not in response.text
        assert providers.slack.HOOK_PATH not in response.text
        assert hook["secret"] not in response.text
        assert "secret" not in response.text


BAD_CHANNELS = [
    (
        {"kind": "pagerduty", "name": "pd", "routing_key": "too-short"},
        "notifications.invalid_channel",
        "/routing_key",
    ),
    (
        {"kind": "slack", "name": "s", "webhook_url": "https://evil.example/services/x"},
        "notifications.invalid_channel",
        "/webhook_url",
    ),
    ({"kind": "webhook", "name": "w", "url": "ftp://example.com/x"}, "net.target_refused", "/url"),
    (
        {"kind": "email", "name": "m", "to": ["not an address"]},
        "notifications.invalid_channel",
        "/to/0",
    ),
    # An unknown kind fails the discriminated union as a whole, so the pointer is the body.
    ({"kind": "sms", "name": "x"}, "request.invalid", ""),
]


def test_bad_channel_settings_are_refused_with_the_field_to_fix(
    client: TestClient, world: World
) -> None:
    for body, code, pointer in BAD_CHANNELS:
        response = _create(client, world, body)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == code
        assert problem["errors"], problem
        assert any(e["pointer"].startswith(pointer) for e in problem["errors"]), problem
    assert client.get(URL, headers=world.auth("alice")).json() == []


def test_operator_settings_guard_channel_creation(world: World) -> None:
    strict = world.ctx.settings.model_copy(update={"allow_private_targets": False})
    without_smtp = world.ctx.settings.model_copy(update={"smtp_host": ""})
    attempts = [
        (strict, {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, "net.target_refused"),
        (
            without_smtp,
            {"kind": "email", "to": ["ops@example.com"]},
            "notifications.smtp_not_configured",
        ),
    ]
    for settings, kwargs, code in attempts:
        with session_scope(world.ctx.sessions) as session, pytest.raises(OpsyardError) as refused:
            channels.create_channel(
                session,
                team=session.merge(world.teams["alpha"]),
                name="channel",
                settings=settings,
                actor=None,
                **kwargs,  # type: ignore[arg-type]
            )
        assert refused.value.code == code
    assert refused.value.category.value == "operator_fixable"  # nobody in the team can fix SMTP


def test_only_owners_manage_channels_and_other_teams_see_nothing(
    client: TestClient, world: World
) -> None:
    body = {"kind": "pagerduty", "name": "pd", "routing_key": ROUTING_KEY}
    assert _create(client, world, body, who="bob").status_code == 403
    assert _create(client, world, body, who="vera").status_code == 403
    channel = _create(client, world, body).json()
    assert client.get(URL, headers=world.auth("carol")).status_code == 404
    # A beta owner naming alpha's channel under beta's URL: no such channel there.
    other = f"/api/v1/teams/beta/channels/{channel['id']}"
    assert client.get(other, headers=world.auth("carol")).status_code == 404
    assert client.delete(other, headers=world.auth("carol")).status_code == 404
    assert client.post(other + "/test", headers=world.auth("carol")).status_code == 404
    assert (
        client.patch(
            f"{URL}/{channel['id']}", json={"enabled": False}, headers=world.auth("bob")
        ).status_code
        == 403
    )


def test_switching_off_and_deleting_a_channel_keeps_its_delivery_log(
    client: TestClient, world: World, providers: Providers
) -> None:
    channel = _create(
        client,
        world,
        {"kind": "slack", "name": "team-chat", "webhook_url": providers.slack.hook_url},
    ).json()
    tested = client.post(f"{URL}/{channel['id']}/test", headers=world.auth("alice"))
    assert tested.status_code == 202
    run_sender(world.ctx)
    off = client.patch(
        f"{URL}/{channel['id']}", json={"enabled": False}, headers=world.auth("alice")
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    refused = client.post(f"{URL}/{channel['id']}/test", headers=world.auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "notifications.channel_disabled"
    assert client.delete(f"{URL}/{channel['id']}", headers=world.auth("alice")).status_code == 204
    [row] = notifications(world.ctx)
    assert row.channel_id is None and row.channel_name == "team-chat" and row.status == "sent"
    log = client.get("/api/v1/teams/alpha/notifications", headers=world.auth("vera")).json()
    assert log[0]["channel_name"] == "team-chat"
