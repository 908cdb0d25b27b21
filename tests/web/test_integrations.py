"""The integrations pages: channels, outbound webhooks with their delivery log, inbound
integrations and the notification log. Secrets are shown once; owners manage, members resend,
viewers read, other teams see nothing."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.config import Settings
from opsyard.db.engine import session_scope
from opsyard.notifications import channels, service
from opsyard.notifications.models import Channel, Notification
from opsyard.notifications.sender import deliver_due as send_notifications
from opsyard.webhooks.deliver import deliver_due
from opsyard.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import World
from tests.core.webhooks.helpers import emit_notes, run_job
from tests.core.webhooks.receiver import Receiver
from tests.web.conftest import send

PAGE = "/t/alpha/integrations"
SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx"
ROUTING_KEY = "0123456789abcdef0123456789ABCDEF"
SECRET = re.compile(r'value="(whsec_[A-Za-z0-9+/=]+)"')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_timeout_seconds": 2.0})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _channel(browser: TestClient, **fields: str) -> tuple[int, str]:
    data = {"kind": "slack", "name": "alerts", **fields}
    response = send(browser, f"{PAGE}/channels", data, target="channels")
    return response.status_code, response.text


def _webhook(browser: TestClient, url: str, *events: str) -> tuple[int, str]:
    data = {"url": url, "description": "timeline bot", "event_types": list(events)}
    response = send(browser, f"{PAGE}/webhooks", data, target="webhooks")  # type: ignore[arg-type]
    return response.status_code, response.text


def _field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def _channels(world: World) -> dict[str, Channel]:
    with world.session() as session:
        return {c.name: c for c in session.scalars(select(Channel))}


# ---------------------------------------------------------------------------------------
# The page and who sees what
# ---------------------------------------------------------------------------------------


def test_the_page_per_role(signed_in: Callable[[str], TestClient], world: World) -> None:
    owner = signed_in("alice").get(PAGE)
    assert owner.status_code == 200
    assert '<a href="/t/alpha/integrations" aria-current="page">Integrations</a>' in owner.text
    assert '<a href="/t/alpha/oncall">On-call</a>' in owner.text
    for section in ("Add a channel", "Add a webhook", "Add an inbound integration"):
        assert section in owner.text
    for who in ("bob", "vera"):
        page = signed_in(who).get(PAGE).text
        assert "Notification channels" in page
        assert "Only team owners can add or change channels." in page
        assert "Add a channel" not in page
        assert 'id="webhooks"' not in page and 'id="inbound"' not in page
        assert "Only team owners see the team's outbound webhooks" in page
    carol = signed_in("carol")
    for path in (PAGE, f"{PAGE}/notifications", f"{PAGE}/webhooks/1", f"{PAGE}/inbound/ih_x"):
        assert carol.get(path).status_code == 404, path


# ---------------------------------------------------------------------------------------
# Notification channels
# ---------------------------------------------------------------------------------------


def test_owners_add_channels_and_credentials_are_never_shown_back(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, section = _channel(alice, name="#alerts", webhook_url=SLACK_URL)
    assert status == 200, section
    assert section.lstrip().startswith('<section id="channels"')
    assert "Channel “#alerts” is added." in section
    assert SLACK_URL not in section

    status, section = _channel(alice, kind="pagerduty", name="pager", routing_key=ROUTING_KEY)
    assert status == 200, section
    assert ROUTING_KEY not in section

    # A webhook channel's signing secret is in this answer, with a copy button, and only here.
    status, section = _channel(alice, kind="webhook", name="bot", url="http://127.0.0.1:9/bot")
    assert status == 200, section
    assert "it is shown only this once" in section
    secret = SECRET.search(section).group(1)  # type: ignore[union-attr]
    made = _channels(world)
    assert f'data-copy-target="channel-secret-{made["bot"].id}"' in section
    assert made["bot"].secret == secret
    assert made["#alerts"].secret == SLACK_URL
    assert made["pager"].secret == ROUTING_KEY

    page = alice.get(PAGE).text
    for credential in (secret, SLACK_URL, ROUTING_KEY):
        assert credential not in page
    assert "http://127.0.0.1:9/bot" in page  # the URL a webhook channel posts to is shown


def test_channel_form_errors_are_shown_beside_the_fields(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, section = _channel(alice, kind="pagerduty", name="pager", routing_key="too-short")
    assert status == 422
    assert "Copy the Integration Key" in _field_error(section, "channel-routing_key")
    assert "too-short" not in section  # a credential is not refilled, even a wrong one
    assert 'value="pager"' in section

    status, section = _channel(alice, webhook_url="https://evil.example.com/hook")
    assert status == 422
    assert "Slack app's incoming webhook" in _field_error(section, "channel-webhook_url")

    for bad in ("ftp://example.com/", "http://[::1/"):
        status, section = _channel(alice, kind="webhook", url=bad)
        assert status == 422
        assert _field_error(section, "channel-url")

    status, section = _channel(alice, name="  ", webhook_url=SLACK_URL)
    assert status == 422
    assert _field_error(section, "channel-name") == "Give a name."

    # Longer than the column: refused beside the field, not by the database.
    status, section = _channel(alice, name="x" * 101, webhook_url=SLACK_URL)
    assert status == 422
    assert "at most 100" in _field_error(section, "channel-name")

    assert _channel(alice, name="taken", webhook_url=SLACK_URL)[0] == 200
    status, section = _channel(alice, name="taken", webhook_url=SLACK_URL)
    assert status == 409
    assert _field_error(section, "channel-name") == "Choose another name."

    # Email needs an SMTP server, which this portal has not: not offered, and refused.
    assert '<option value="email"' not in alice.get(PAGE).text
    status, _ = _channel(alice, kind="email", name="mail", to="a@example.com")
    assert status == 503
    assert list(_channels(world)) == ["taken"]


def test_owners_switch_test_and_delete_a_channel(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    _channel(alice, kind="webhook", name="bot", url="http://127.0.0.1:9/bot")
    channel_id = _channels(world)["bot"].id
    base = f"{PAGE}/channels/{channel_id}"

    off = send(alice, f"{base}/enabled", {"enabled": "false"}, target="channels")
    assert off.status_code == 200
    assert "“bot” is off" in off.text
    assert "Switch on<span" in off.text and "Send test" not in off.text
    refused = send(alice, f"{base}/test", target="channels")
    assert refused.status_code == 409  # a switched-off channel sends nothing
    assert "bot is switched off." in refused.text

    send(alice, f"{base}/enabled", {"enabled": "true"}, target="channels")
    tested = send(alice, f"{base}/test", target="channels")
    assert tested.status_code == 200
    assert "A test message to “bot” is queued" in tested.text
    with world.session() as session:
        [queued] = session.scalars(select(Notification))
        assert (queued.purpose, queued.channel_id) == ("test", channel_id)

    gone = send(alice, f"{base}/delete", target="channels")
    assert gone.status_code == 200
    assert "“bot” is deleted" in gone.text
    assert _channels(world) == {}
    assert send(alice, f"{base}/delete", target="channels").status_code == 404


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_only_owners_change_integrations(
    signed_in: Callable[[str], TestClient], world: World, who: str
) -> None:
    channel_id = _add_channel(world, name="bot")
    browser = signed_in(who)
    attempts = [
        (f"{PAGE}/channels", {"kind": "slack", "name": "x", "webhook_url": SLACK_URL}),
        (f"{PAGE}/channels/{channel_id}/enabled", {"enabled": "false"}),
        (f"{PAGE}/channels/{channel_id}/test", {}),
        (f"{PAGE}/channels/{channel_id}/delete", {}),
        (f"{PAGE}/webhooks", {"url": "http://127.0.0.1:9/", "event_types": "*"}),
        (f"{PAGE}/webhooks/1/rotate-secret", {}),
        (f"{PAGE}/webhooks/1/deliveries/1/redeliver", {}),
        (f"{PAGE}/inbound", {"provider": "github"}),
        (f"{PAGE}/inbound/ih_x/rotate-secret", {}),
    ]
    for url, data in attempts:
        response = send(browser, url, data, htmx=True)
        assert response.status_code == 403, (url, response.status_code)
        assert response.headers["hx-retarget"] == "#flash"
    assert browser.get(f"{PAGE}/webhooks/1").status_code == 403
    assert _channels(world)["bot"].enabled
    carol = signed_in("carol")
    for url, data in attempts:
        assert send(carol, url, data, htmx=True).status_code == 404, url


# ---------------------------------------------------------------------------------------
# Outbound webhooks and their delivery log
# ---------------------------------------------------------------------------------------


def test_a_webhook_secret_is_shown_once_and_signs_the_deliveries(
    signed_in: Callable[[str], TestClient], world: World, receiver: Receiver
) -> None:
    alice = signed_in("alice")
    status, section = _webhook(alice, receiver.url, "fixture.note.created")
    assert status == 200, section
    assert section.lstrip().startswith('<section id="webhooks"')
    assert "it is shown only this once" in section
    secret = SECRET.search(section).group(1)  # type: ignore[union-attr]
    assert 'data-copy-target="webhook-secret-1"' in section

    page = alice.get(PAGE).text
    assert secret not in page
    assert receiver.url in page and "fixture.note.created" in page

    # The secret shown is the one the deliveries are signed with.
    receiver.secrets = [secret]
    emit_notes(world.ctx)
    run_job(world.ctx, "core.events.dispatch", datetime.now(UTC))
    run_job(world.ctx, "core.webhooks.deliver", datetime.now(UTC))
    assert len(receiver.verified()) == 1

    # A rotation shows the new secret once; the old one still signs during the overlap.
    rotated = send(alice, f"{PAGE}/webhooks/1/rotate-secret", target="webhooks")
    assert rotated.status_code == 200
    new_secret = SECRET.search(rotated.text).group(1)  # type: ignore[union-attr]
    assert new_secret != secret
    assert "signed with the old secret too until" in rotated.text
    page = alice.get(PAGE).text
    assert new_secret not in page
    assert "The previous secret also signs until" in page


def test_webhook_form_errors_keep_what_was_typed(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, section = _webhook(alice, "http://127.0.0.1:9/hook")
    assert status == 422
    assert "event type" in _field_error(section, "webhook-event_types")
    assert 'value="http://127.0.0.1:9/hook"' in section

    status, section = _webhook(alice, "not a url", "fixture.note.created")
    assert status == 422
    assert (
        _field_error(section, "webhook-url") == "Give a full URL such as https://example.com/hook."
    )
    assert 'value="fixture.note.created" checked' in section  # the ticked box stays ticked

    status, section = _webhook(alice, "http://127.0.0.1:9/hook", "no.such.event")
    assert status == 422
    assert "not a declared event type" in _field_error(section, "webhook-event_types")
    with world.session() as session:
        assert session.scalars(select(WebhookSubscription)).first() is None


def test_owners_switch_and_delete_a_webhook(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    _webhook(alice, "http://127.0.0.1:9/hook", "*")
    off = send(alice, f"{PAGE}/webhooks/1/enabled", {"enabled": "false"}, target="webhooks")
    assert off.status_code == 200
    assert "Disabled by a team owner." in off.text
    on = send(alice, f"{PAGE}/webhooks/1/enabled", {"enabled": "true"}, target="webhooks")
    assert "is on again" in on.text
    gone = send(alice, f"{PAGE}/webhooks/1/delete", target="webhooks")
    assert "and its delivery log are deleted" in gone.text
    assert alice.get(f"{PAGE}/webhooks/1").status_code == 404


def _fail_every_attempt(world: World) -> None:
    """Run the delivery job as the clock moves on until the retry schedule gives up."""
    at = datetime.now(UTC)
    for _ in range(12):
        deliver_due(world.ctx, at=at)
        at += timedelta(days=1)


def test_a_failed_delivery_is_shown_and_redelivered(
    signed_in: Callable[[str], TestClient], world: World, receiver: Receiver
) -> None:
    alice = signed_in("alice")
    _webhook(alice, receiver.url, "*")
    receiver.set_mode("error")
    emit_notes(world.ctx)
    run_job(world.ctx, "core.events.dispatch", datetime.now(UTC))
    _fail_every_attempt(world)

    log = alice.get(f"{PAGE}/webhooks/1")
    assert log.status_code == 200
    row = log.text[log.text.index('<tr id="delivery-1">') :]
    row = row[: row.index("</tr>")]
    assert "failed" in row
    assert "500 · " in row and " ms" in row  # status code and duration of the last attempt
    assert "HTTP 500: boom" in row
    assert "10 attempts" in row
    assert "Redeliver<span" in row
    assert "fixture.note.created" in alice.get(f"{PAGE}/webhooks/1?status=failed").text
    assert "No pending deliveries." in alice.get(f"{PAGE}/webhooks/1?status=pending").text

    # The row replaces itself: the new delivery, due now, above the old one.
    receiver.set_mode("ok")
    again = send(alice, f"{PAGE}/webhooks/1/deliveries/1/redeliver", target="closest tr")
    assert again.status_code == 200, again.text
    assert again.text.lstrip().startswith('<tr id="delivery-2">')
    assert again.text.count("<tr ") == 2
    assert "redelivery of #1" in again.text
    assert "redelivered as #2" in again.text
    assert "Redeliver<span" not in again.text  # neither the pending nor the redelivered one

    run_job(world.ctx, "core.webhooks.deliver", datetime.now(UTC))
    with world.session() as session:
        statuses = [d.status for d in session.scalars(select(WebhookDelivery).order_by("id"))]
    assert statuses == ["failed", "succeeded"]
    assert len(receiver.requests) == 11

    # Members cannot see or use the log; a disabled webhook offers no redelivery.
    assert signed_in("bob").get(f"{PAGE}/webhooks/1").status_code == 403
    send(alice, f"{PAGE}/webhooks/1/enabled", {"enabled": "false"}, target="webhooks")
    log = alice.get(f"{PAGE}/webhooks/1").text
    assert "Redeliver<span" not in log
    refused = send(alice, f"{PAGE}/webhooks/1/deliveries/2/redeliver", target="closest tr")
    assert refused.status_code == 409
    assert refused.headers["hx-retarget"] == "#flash"


# ---------------------------------------------------------------------------------------
# Inbound integrations
# ---------------------------------------------------------------------------------------


def _github(client: TestClient, path: str, secret: str, delivery: str) -> int:
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": f"sha256={signature}",
        "x-github-delivery": delivery,
        "x-github-event": "ping",
    }
    return client.post(path, content=body, headers=headers).status_code


def test_an_inbound_integration_has_a_copyable_url_and_its_secret_shown_once(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    alice = signed_in("alice")
    created = send(
        alice, f"{PAGE}/inbound", {"provider": "github", "name": "payments"}, target="inbound"
    )
    assert created.status_code == 200, created.text
    section = created.text
    assert section.lstrip().startswith('<section id="inbound"')
    assert "it is shown only this once" in section
    assert "Payload URL" in section  # how to set it up in GitHub
    url = re.search(r'value="(http://[^"]+/api/v1/hooks/github/(ih_[^"]+))"', section)
    assert url is not None
    public_id = url.group(2)
    secret_field = f'id="inbound-secret-{public_id}" class="token-value" type="text" value="'
    secret = section.split(secret_field)[1].split('"')[0]
    assert len(secret) > 30

    page = alice.get(PAGE).text
    assert secret not in page
    assert f'id="inbound-url-{public_id}"' in page  # the URL stays, with its copy button
    assert f'data-copy-target="inbound-url-{public_id}"' in page
    assert url.group(1) in page

    # The URL and the secret shown work; a wrong secret does not.
    client.cookies.clear()
    path = url.group(1).removeprefix(world.ctx.settings.base_url)
    assert _github(client, path, secret, "d-1") == 202
    assert _github(client, path, "wrong", "d-2") == 401
    received = alice.get(f"{PAGE}/inbound/{public_id}")
    assert received.status_code == 200
    assert "ping" in received.text and "d-1" in received.text

    rotated = send(alice, f"{PAGE}/inbound/{public_id}/rotate-secret", target="inbound")
    assert "has a new secret" in rotated.text
    assert secret not in rotated.text
    off = send(alice, f"{PAGE}/inbound/{public_id}/enabled", {"enabled": "false"}, target="inbound")
    assert "its URL answers 404" in off.text
    assert _github(client, path, secret, "d-3") == 404
    gone = send(alice, f"{PAGE}/inbound/{public_id}/delete", target="inbound")
    assert "“payments” is deleted" in gone.text
    assert alice.get(f"{PAGE}/inbound/{public_id}").status_code == 404


def test_inbound_form_errors(signed_in: Callable[[str], TestClient], world: World) -> None:
    alice = signed_in("alice")
    response = send(alice, f"{PAGE}/inbound", {"provider": "gitlab"}, target="inbound")
    assert response.status_code == 422
    assert _field_error(response.text, "inbound-provider") == "Pick a sender."
    response = send(
        alice, f"{PAGE}/inbound", {"provider": "github", "name": "n" * 201}, target="inbound"
    )
    assert response.status_code == 422
    assert "at most 200" in _field_error(response.text, "inbound-name")


# ---------------------------------------------------------------------------------------
# The notification log
# ---------------------------------------------------------------------------------------


def _add_channel(world: World, name: str, url: str = "http://127.0.0.1:9/closed") -> int:
    with session_scope(world.ctx.sessions) as session:
        created = channels.create_channel(
            session,
            team=session.merge(world.teams["alpha"]),
            kind="webhook",
            name=name,
            settings=world.ctx.settings,
            actor=None,
            url=url,
        )
        return created.channel.id


def _failed_notification(world: World) -> tuple[int, int]:
    """A notification to a channel nobody listens on, tried until the schedule gives up."""
    channel_id = _add_channel(world, "dead end")
    with session_scope(world.ctx.sessions) as session:
        [queued] = service.notify(
            session,
            team=session.merge(world.teams["alpha"]),
            summary="Checkout error rate above 5%",
            severity="error",
            channels=[channel_id],
        )
        notification_id = queued.id
    at = datetime.now(UTC)
    for _ in range(8):
        send_notifications(world.ctx, at=at)
        at += timedelta(hours=1)
    return notification_id, channel_id


def test_the_notification_log_and_resending(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    notification_id, channel_id = _failed_notification(world)
    resend = f"{PAGE}/notifications/{notification_id}/resend"

    vera = signed_in("vera")
    log = vera.get(f"{PAGE}/notifications").text
    assert "Checkout error rate above 5%" in log
    assert "Connection refused" in log or "ConnectError" in log
    assert "Resend<span" not in log
    assert send(vera, resend, target="closest tr").status_code == 403

    bob = signed_in("bob")
    assert "Resend<span" in bob.get(f"{PAGE}/notifications?status=failed").text
    assert "No sent notifications." in bob.get(f"{PAGE}/notifications?status=sent").text
    one_channel = bob.get(f"{PAGE}/notifications?channel={channel_id}")
    assert "“dead end”" in one_channel.text
    assert "Checkout error rate" in one_channel.text

    row = send(bob, resend, target="closest tr")
    assert row.status_code == 200, row.text
    assert row.text.lstrip().startswith(f'<tr id="notification-{notification_id}">')
    assert "pending" in row.text and "sent again" in row.text
    with world.session() as session:
        found = session.get(Notification, notification_id)
        assert found is not None and (found.status, found.attempts) == ("pending", 0)

    # Only failed notifications are sent again; the refusal shows in the flash area.
    twice = send(bob, resend, target="closest tr")
    assert twice.status_code == 409
    assert twice.headers["hx-retarget"] == "#flash"
    assert send(signed_in("carol"), resend, target="closest tr").status_code == 404


def test_every_member_reads_the_team_events(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    [event_id] = emit_notes(world.ctx)
    vera = signed_in("vera")
    page = vera.get(f"{PAGE}/events")
    assert page.status_code == 200
    assert f'<tr id="{event_id}">' in page.text
    assert "<code>fixture.note.created</code>" in page.text
    assert "&#34;text&#34;: &#34;note 0&#34;" in page.text  # the payload, escaped
    assert "pending" in page.text  # not handed on yet
    run_job(world.ctx, "core.events.dispatch", datetime.now(UTC))
    assert "pending" not in vera.get(f"{PAGE}/events").text
    only = vera.get(f"{PAGE}/events", params={"type": "fixture.note.created"}).text
    assert "Events of type fixture.note.created" in only and event_id in only
    assert signed_in("carol").get(f"{PAGE}/events").status_code == 404
    assert signed_in("alice").get(f"{PAGE}/events?before=evt_nope").status_code == 422
