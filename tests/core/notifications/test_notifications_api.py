"""The delivery log, test sends, resending and paging over the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World
from tests.core.notifications.conftest import Providers
from tests.core.notifications.helpers import ROUTING_KEY, add_channel, run_sender
from tests.core.notifications.receivers import SlackReceiver

TEAM = "/api/v1/teams/alpha"


def test_a_test_send_is_visible_in_the_log_with_the_providers_answer(
    client: TestClient, world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    queued = client.post(f"{TEAM}/channels/{channel}/test", headers=world.auth("alice"))
    assert queued.status_code == 202
    [pending] = queued.json()
    assert (pending["status"], pending["purpose"], pending["attempts"]) == ("pending", "test", 0)

    run_sender(world.ctx)
    log = client.get(f"{TEAM}/notifications", headers=world.auth("vera"))
    assert log.status_code == 200
    [sent] = log.json()
    assert sent["status"] == "sent" and sent["attempts"] == 1
    assert (sent["provider_status"], sent["provider_response"]) == (200, "ok")
    assert providers.slack.messages[0]["text"].startswith("[TEST] Test notification for team alpha")
    one = client.get(f"{TEAM}/notifications/{sent['id']}", headers=world.auth("bob"))
    assert one.json() == sent
    assert (
        client.get(
            f"/api/v1/teams/beta/notifications/{sent['id']}", headers=world.auth("carol")
        ).status_code
        == 404
    )
    assert client.get(f"{TEAM}/notifications", headers=world.auth("carol")).status_code == 404

    # On PagerDuty a test is a trigger and a resolve, so the test incident closes itself.
    pagerduty, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    queued = client.post(f"{TEAM}/channels/{pagerduty}/test", headers=world.auth("alice")).json()
    assert [n["action"] for n in queued] == ["trigger", "resolve"]
    run_sender(world.ctx)
    assert [e["event_action"] for e in providers.pagerduty.events] == ["trigger", "resolve"]
    assert set(providers.pagerduty.incidents.values()) == {"resolved"}
    assert ROUTING_KEY not in client.get(f"{TEAM}/notifications", headers=world.auth("alice")).text


def test_failed_notifications_show_why_and_can_be_sent_again(
    client: TestClient, world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    providers.slack.then(SlackReceiver.text(404, "no_service"))
    client.post(f"{TEAM}/channels/{channel}/test", headers=world.auth("alice"))
    run_sender(world.ctx)
    [failed] = client.get(f"{TEAM}/notifications?status=failed", headers=world.auth("bob")).json()
    assert failed["last_error"] == "Slack answered 404: no_service"
    assert failed["next_attempt_at"] is None

    url = f"{TEAM}/notifications/{failed['id']}/resend"
    assert client.post(url, headers=world.auth("vera")).status_code == 403
    again = client.post(url, headers=world.auth("bob"))
    assert again.status_code == 200 and again.json()["status"] == "pending"
    run_sender(world.ctx)
    assert (
        client.get(f"{TEAM}/notifications/{failed['id']}", headers=world.auth("bob")).json()[
            "status"
        ]
        == "sent"
    )
    twice = client.post(url, headers=world.auth("bob"))
    assert twice.status_code == 409 and twice.json()["code"] == "notifications.not_retryable"


def test_members_page_the_on_call_engineer_over_the_api(
    client: TestClient, world: World, providers: Providers
) -> None:
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    body = {"summary": "Payments API 5xx", "severity": "error", "dedup_key": "payments-5xx"}
    first = client.post(f"{TEAM}/pages", json=body, headers=world.auth("bob"))
    assert first.status_code == 200, first.text
    assert first.json()["deduplicated"] is False
    assert first.json()["page"]["status"] == "triggered"
    again = client.post(f"{TEAM}/pages", json=body, headers=world.auth("bob")).json()
    assert again["deduplicated"] is True and again["notifications"] == []

    assert client.post(f"{TEAM}/pages", json=body, headers=world.auth("vera")).status_code == 403
    no_summary = client.post(f"{TEAM}/pages", json={"dedup_key": "x"}, headers=world.auth("bob"))
    assert no_summary.status_code == 422
    unknown = client.post(
        f"{TEAM}/pages",
        json={**body, "dedup_key": "other", "rotation": "nope"},
        headers=world.auth("bob"),
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/rotation"

    resolve = {"dedup_key": "payments-5xx", "action": "resolve"}
    closed = client.post(f"{TEAM}/pages", json=resolve, headers=world.auth("alice")).json()
    assert closed["page"]["status"] == "resolved"
    assert client.get(f"{TEAM}/pages?open_only=true", headers=world.auth("vera")).json() == []
    [listed] = client.get(f"{TEAM}/pages", headers=world.auth("vera")).json()
    assert listed["dedup_key"] == "payments-5xx"
    run_sender(world.ctx)
    assert [e["event_action"] for e in providers.pagerduty.events] == ["trigger", "resolve"]
    audit = client.get(f"{TEAM}/audit", headers=world.auth("alice")).json()
    paged = [
        (e["actor"], e["action"]) for e in audit if e["action"].startswith("notifications.page")
    ]
    assert paged == [
        ("alice@example.com", "notifications.page_resolve"),
        ("bob@example.com", "notifications.page_trigger"),
        ("bob@example.com", "notifications.page_trigger"),
    ]
