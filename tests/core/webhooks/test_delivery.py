"""The core.webhooks.deliver job against a real receiver on loopback."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from opsyard.retry import WEBHOOK_RETRIES
from opsyard.webhooks.deliver import deliver_due
from tests.conftest import World
from tests.core.webhooks.helpers import deliveries, emit_notes, now, run_job, subscribe
from tests.core.webhooks.receiver import Receiver

DELIVER = "core.webhooks.deliver"
DISPATCH = "core.events.dispatch"


def _setup(client: TestClient, world: World, receiver: Receiver, count: int = 1) -> dict[str, Any]:
    """Subscribe the receiver, emit `count` events and dispatch them."""
    created = subscribe(client, world, receiver.url)
    receiver.secrets = [created["secret"]]
    created["events"] = emit_notes(world.ctx, count=count)
    run_job(world.ctx, DISPATCH, now())
    return created


def _log(client: TestClient, world: World, webhook_id: int, query: str = "") -> dict[str, Any]:
    path = f"/api/v1/teams/alpha/webhooks/{webhook_id}/deliveries{query}"
    response = client.get(path, headers=world.auth("alice"))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_a_delivery_is_signed_per_standard_webhooks(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver)
    run_job(world.ctx, DELIVER, now())
    [request] = receiver.requests
    assert request.headers["webhook-id"] == created["events"][0]
    assert request.headers["content-type"] == "application/json"
    # The reference library accepts the signature, and the body is Standard Webhooks' shape.
    payload = Webhook(created["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "fixture.note.created"
    assert payload["data"] == {"note_id": 0, "text": "note 0"}
    assert datetime.fromisoformat(payload["timestamp"]) <= now()
    [delivery] = _log(client, world, created["id"])["items"]
    assert delivery["status"] == "succeeded"
    assert delivery["event_id"] == created["events"][0]
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 204
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0


def test_a_failing_receiver_is_retried_over_about_three_days_then_given_up(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    receiver.set_mode("error")
    created = _setup(client, world, receiver)
    start = now()
    run_job(world.ctx, DELIVER, start)
    [delivery] = deliveries(world.ctx)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at is not None
    # The second attempt is due about five seconds later (the schedule has 10% jitter)...
    assert timedelta(seconds=4) < delivery.next_attempt_at - start < timedelta(seconds=6)
    # ...and not a moment sooner.
    run_job(world.ctx, DELIVER, start + timedelta(seconds=4))
    assert len(receiver.requests) == 1
    while (pending := deliveries(world.ctx)[0]).next_attempt_at is not None:
        run_job(world.ctx, DELIVER, pending.next_attempt_at)
    [given_up] = _log(client, world, created["id"])["items"]
    assert given_up["status"] == "failed"
    assert given_up["attempt_count"] == WEBHOOK_RETRIES.max_attempts == 10
    assert len(receiver.requests) == 10
    attempts = given_up["attempts"]
    assert [a["number"] for a in attempts] == list(range(1, 11))
    assert {a["status_code"] for a in attempts} == {500}
    assert attempts[0]["error"] == "HTTP 500: boom"
    span = datetime.fromisoformat(attempts[-1]["at"]) - datetime.fromisoformat(attempts[0]["at"])
    assert timedelta(days=2.5) < span < timedelta(days=3.5)


def test_a_410_disables_the_subscription_and_cancels_what_waits(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    receiver.set_mode("error")
    created = _setup(client, world, receiver)
    start = now()
    run_job(world.ctx, DELIVER, start)  # the first event now waits for its retry
    emit_notes(world.ctx)
    run_job(world.ctx, DISPATCH, start)
    receiver.set_mode("gone")
    run_job(world.ctx, DELIVER, start + timedelta(seconds=1))  # only the second one is due
    first, second = deliveries(world.ctx)
    assert (first.status, second.status) == ("cancelled", "failed")
    assert second.last_status_code == 410
    headers = world.auth("alice")
    subscription = client.get(f"/api/v1/teams/alpha/webhooks/{created['id']}", headers=headers)
    assert subscription.json()["enabled"] is False
    assert "410 Gone" in subscription.json()["disabled_reason"]
    audit = client.get("/api/v1/teams/alpha/audit", headers=headers).json()
    assert audit[0]["action"] == "webhook.disabled"
    assert audit[0]["actor"] == "system"
    # New events are no longer owed to it, and nothing more is sent.
    emit_notes(world.ctx)
    run_job(world.ctx, DISPATCH, start)
    run_job(world.ctx, DELIVER, start + timedelta(hours=1))
    assert len(deliveries(world.ctx)) == 2
    assert len(receiver.requests) == 2


def test_a_slow_receiver_times_out_and_is_retried(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    receiver.slow_seconds = 3.0  # the tests' timeout is one second
    receiver.set_mode("slow")
    created = _setup(client, world, receiver)
    run_job(world.ctx, DELIVER, now())
    [delivery] = _log(client, world, created["id"])["items"]
    assert delivery["status"] == "pending"
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("timed out")
    assert 900 <= attempt["duration_ms"] < 3000


def test_a_target_is_checked_again_before_each_send(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver)
    world.ctx.settings.allow_private_targets = False
    run_job(world.ctx, DELIVER, now())
    assert receiver.requests == []
    [delivery] = _log(client, world, created["id"])["items"]
    assert delivery["status"] == "pending"
    assert delivery["attempts"][0]["error"].startswith("net.target_refused")


def test_a_receiver_down_for_an_hour_loses_nothing(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    receiver.set_mode("down")
    created = _setup(client, world, receiver, count=5)
    start = at = now()
    # Time steps from one due retry to the next; the receiver comes back an hour in.
    while at < start + timedelta(days=1):
        if at >= start + timedelta(hours=1):
            receiver.set_mode("ok")
        run_job(world.ctx, DELIVER, at)
        due = [d.next_attempt_at for d in deliveries(world.ctx) if d.next_attempt_at]
        if not due:
            break
        at = min(due)
    owed = deliveries(world.ctx)
    assert {d.status for d in owed} == {"succeeded"}
    assert all(d.attempts >= 5 for d in owed)  # 0 s, 5 s, 5 min, 30 min: all while down
    # Every event arrived, once, verifiably signed.
    assert sorted(r.webhook_id for r in receiver.verified()) == sorted(created["events"])
    failed = _log(client, world, created["id"])["items"][0]["attempts"][0]
    assert failed["status_code"] is None
    assert "ConnectError" in failed["error"]


def test_redelivery_sends_the_same_message_again(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver)
    run_job(world.ctx, DELIVER, now())
    [original] = _log(client, world, created["id"])["items"]
    path = f"/api/v1/teams/alpha/webhooks/{created['id']}/deliveries/{original['id']}/redeliver"
    again = client.post(path, headers=world.auth("alice"))
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    assert again.json()["redelivery_of"] == original["id"]
    run_job(world.ctx, DELIVER, now())
    first, second = receiver.verified()
    assert first.webhook_id == second.webhook_id == created["events"][0]
    assert first.body == second.body
    log = _log(client, world, created["id"])["items"]
    assert [(d["id"], d["status"]) for d in log] == [
        (again.json()["id"], "succeeded"),
        (original["id"], "succeeded"),
    ]
    one = client.get(
        f"/api/v1/teams/alpha/webhooks/{created['id']}/deliveries/{original['id']}",
        headers=world.auth("alice"),
    )
    assert one.json() == original


def test_redelivery_needs_an_enabled_subscription_and_an_owner(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver)
    run_job(world.ctx, DELIVER, now())
    [original] = _log(client, world, created["id"])["items"]
    base = f"/api/v1/teams/alpha/webhooks/{created['id']}"
    path = f"{base}/deliveries/{original['id']}/redeliver"
    assert client.post(path, headers=world.auth("bob")).status_code == 403
    client.patch(base, json={"enabled": False}, headers=world.auth("alice"))
    refused = client.post(path, headers=world.auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "webhooks.subscription_disabled"
    missing = client.post(f"{base}/deliveries/999999/redeliver", headers=world.auth("alice"))
    assert missing.status_code == 404


def test_rotation_signs_with_both_secrets_during_the_overlap(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver)
    path = f"/api/v1/teams/alpha/webhooks/{created['id']}/rotate-secret"
    new = client.post(path, headers=world.auth("alice")).json()["secret"]
    old = created["secret"]
    receiver.secrets = [old, new]
    run_job(world.ctx, DELIVER, now())
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified_with == [0, 1]  # a receiver with either secret accepts it
    emit_notes(world.ctx)
    run_job(world.ctx, DISPATCH, now())
    run_job(world.ctx, DELIVER, now() + timedelta(hours=25))  # the overlap has ended
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.verified_with == [1]
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_the_delivery_log_pages_and_filters(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    created = _setup(client, world, receiver, count=3)
    run_job(world.ctx, DELIVER, now())
    first = _log(client, world, created["id"], "?limit=2")
    assert len(first["items"]) == 2
    second = _log(client, world, created["id"], f"?limit=2&before={first['next_before']}")
    assert len(second["items"]) == 1
    assert second["next_before"] is None
    assert _log(client, world, created["id"], "?status=failed")["items"] == []
    carol = client.get(
        f"/api/v1/teams/alpha/webhooks/{created['id']}/deliveries", headers=world.auth("carol")
    )
    assert carol.status_code == 404


def test_two_workers_never_send_a_delivery_twice(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    _setup(client, world, receiver, count=60)
    at = now()
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        deliver_due(world.ctx, at=at, batch_size=5)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = Counter(r.webhook_id for r in receiver.requests)
    assert len(sent) == 60
    assert set(sent.values()) == {1}
    assert {d.status for d in deliveries(world.ctx)} == {"succeeded"}


def test_one_unusable_url_does_not_hold_up_the_others(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    from opsyard.db.engine import session_scope
    from opsyard.webhooks.models import WebhookSubscription

    broken = subscribe(client, world, receiver.url)
    with session_scope(world.ctx.sessions) as session:
        # As if it had been stored before URLs were checked this strictly.
        session.get_one(WebhookSubscription, broken["id"]).url = "http://[::1/hook"
    created = _setup(client, world, receiver)
    run_job(world.ctx, DELIVER, now())
    assert [r.webhook_id for r in receiver.verified()] == created["events"]
    [failed] = _log(client, world, broken["id"])["items"]
    assert failed["status"] == "pending"
    assert failed["attempts"][0]["error"].startswith("net.target_refused")
