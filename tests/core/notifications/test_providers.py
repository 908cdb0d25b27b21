"""Each channel's request format and how each provider's answers are handled."""

from __future__ import annotations

from datetime import timedelta

from standardwebhooks.webhooks import Webhook

from opsyard.db.engine import session_scope
from opsyard.notifications import service
from opsyard.notifications.models import Channel
from tests.conftest import World
from tests.core.notifications.conftest import Providers
from tests.core.notifications.helpers import (
    ROUTING_KEY,
    T0,
    add_channel,
    notification,
    run_sender,
    team,
)
from tests.core.notifications.receivers import PagerDutyReceiver, Reply, SlackReceiver


def _notify(world: World, channel_id: int, **kwargs: object) -> int:
    with session_scope(world.ctx.sessions) as session:
        [queued] = service.notify(
            session,
            team=team(session, world),
            summary=kwargs.pop("summary", "Checkout latency above 2 s"),  # type: ignore[arg-type]
            severity=kwargs.pop("severity", "warning"),  # type: ignore[arg-type]
            channels=[channel_id],
            at=T0,
            **kwargs,  # type: ignore[arg-type]
        )
        return queued.id


# ---------------------------------------------------------------------------------------
# PagerDuty
# ---------------------------------------------------------------------------------------


def test_pagerduty_gets_a_documented_trigger_event(world: World, providers: Providers) -> None:
    channel, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    sent = _notify(world, channel, body="p99 is 2.4 s", details={"region": "eu-west-1"})
    run_sender(world.ctx, T0)

    [event] = providers.pagerduty.events
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    payload = event["payload"]
    assert payload["summary"] == "Checkout latency above 2 s"
    assert payload["severity"] == "warning"
    assert payload["source"] == "opsyard/alpha"
    assert payload["custom_details"]["region"] == "eu-west-1"
    row = notification(world.ctx, sent)
    assert (row.status, row.attempts, row.provider_status) == ("sent", 1, 202)
    assert "Event processed" in (row.provider_response or "")
    # A notification without a dedup key still gets a stable one, so a retry cannot open a
    # second incident.
    assert event["dedup_key"] == f"opsyard-{row.message_id}"


def test_pagerduty_answers_decide_between_retry_and_failure(
    world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    providers.pagerduty.then(PagerDutyReceiver.throttled(), PagerDutyReceiver.server_error())
    sent = _notify(world, channel)

    run_sender(world.ctx, T0)
    row = notification(world.ctx, sent)
    assert (row.status, row.attempts, row.provider_status) == ("pending", 1, 429)
    assert row.next_attempt_at is not None and row.next_attempt_at > T0
    run_sender(world.ctx, row.next_attempt_at)
    row = notification(world.ctx, sent)
    assert (row.status, row.attempts, row.provider_status) == ("pending", 2, 500)
    assert row.next_attempt_at is not None
    run_sender(world.ctx, row.next_attempt_at)
    row = notification(world.ctx, sent)
    assert (row.status, row.attempts, row.provider_status) == ("sent", 3, 202)
    assert providers.pagerduty.opened == 1

    with session_scope(world.ctx.sessions) as session:
        # A key mangled after creation (say, by hand in the database): PagerDuty answers 400.
        stored = session.get(Channel, channel)
        assert stored is not None
        stored.secret = "short"
    refused = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, refused)
    assert (row.status, row.provider_status, row.next_attempt_at) == ("failed", 400, None)
    assert "Event object is invalid" in (row.last_error or "")
    assert "routing_key" in (row.last_error or "")


# ---------------------------------------------------------------------------------------
# Slack
# ---------------------------------------------------------------------------------------


def test_slack_gets_text_and_blocks(world: World, providers: Providers) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    sent = _notify(world, channel, summary="Disk <90%> & rising", details={"host": "db-1"})
    run_sender(world.ctx, T0)

    [message] = providers.slack.messages
    # Slack reads &, < and > as mrkdwn controls: they arrive escaped.
    assert message["text"] == "[WARNING] Disk &lt;90%&gt; &amp; rising"
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "section" and kinds[-1] == "context"
    assert "Disk &lt;90%&gt; &amp; rising" in message["blocks"][0]["text"]["text"]
    assert any("db-1" in f["text"] for b in message["blocks"] for f in b.get("fields", []))
    row = notification(world.ctx, sent)
    assert (row.status, row.provider_status, row.provider_response) == ("sent", 200, "ok")


def test_slack_errors_are_final_and_rate_limits_wait_as_asked(
    world: World, providers: Providers
) -> None:
    channel, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    answers = {
        400: "invalid_payload",
        403: "action_prohibited",
        404: "no_service",
        410: "channel_is_archived",
    }
    for status, reason in answers.items():
        providers.slack.then(SlackReceiver.text(status, reason))
        sent = _notify(world, channel)
        run_sender(world.ctx, T0)
        row = notification(world.ctx, sent)
        assert (row.status, row.attempts, row.provider_status) == ("failed", 1, status)
        assert reason in (row.last_error or ""), row.last_error

    providers.slack.then(SlackReceiver.text(429, "rate_limited", {"Retry-After": "120"}))
    sent = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, sent)
    assert (row.status, row.provider_status) == ("pending", 429)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= T0 + timedelta(seconds=120)
    run_sender(world.ctx, T0 + timedelta(seconds=60))
    assert notification(world.ctx, sent).attempts == 1
    run_sender(world.ctx, row.next_attempt_at)
    assert notification(world.ctx, sent).status == "sent"


# ---------------------------------------------------------------------------------------
# Generic webhooks
# ---------------------------------------------------------------------------------------


def test_webhooks_are_signed_per_standard_webhooks(world: World, providers: Providers) -> None:
    channel, secret = add_channel(world, kind="webhook", url=providers.webhook.url + "/hooks/ops")
    assert secret is not None and secret.startswith("whsec_")
    providers.webhook.secret = secret
    providers.webhook.then(Reply(503, b"busy", content_type="text/plain"))
    sent = _notify(world, channel, dedup_key="disk-db-1")

    run_sender(world.ctx, T0)
    row = notification(world.ctx, sent)
    assert (row.status, row.provider_status) == ("pending", 503)
    assert row.next_attempt_at is not None
    run_sender(world.ctx, row.next_attempt_at)

    [payload] = providers.webhook.verified
    assert payload["type"] == "notification.sent"
    assert payload["data"]["summary"] == "Checkout latency above 2 s"
    assert payload["data"]["dedup_key"] == "disk-db-1"
    first, second = providers.webhook.requests
    # The same message id on every attempt, so receivers can drop duplicates.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.message_id
    Webhook(secret).verify(second.body, second.headers)
    assert notification(world.ctx, sent).status == "sent"


def test_bad_signatures_and_private_targets_are_refused_for_good(
    world: World, providers: Providers
) -> None:
    channel, secret = add_channel(world, kind="webhook", url=providers.webhook.url + "/hooks/ops")
    providers.webhook.secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    forged = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, forged)
    assert (row.status, row.provider_status) == ("failed", 401)
    assert providers.webhook.verified == []

    # Checked again before each send: a target that is no longer allowed gets nothing.
    providers.webhook.secret = secret
    blocked = _notify(world, channel)
    world.ctx.settings = world.ctx.settings.model_copy(update={"allow_private_targets": False})
    run_sender(world.ctx, T0)
    row = notification(world.ctx, blocked)
    assert row.status == "failed" and "non-public" in (row.last_error or "")
    assert len(providers.webhook.requests) == 1


# ---------------------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------------------


def test_email_goes_to_the_channel_recipients(world: World, providers: Providers) -> None:
    world.ctx.settings = world.ctx.settings.model_copy(
        update={"smtp_username": providers.mail.USERNAME, "smtp_password": providers.mail.PASSWORD}
    )
    channel, _ = add_channel(world, kind="email", to=["ops@example.com", "lead@example.com"])
    sent = _notify(world, channel, body="p99 is 2.4 s", severity="error")
    run_sender(world.ctx, T0)

    [message] = providers.mail.messages
    assert message["Subject"] == "[opsyard] [ERROR] Checkout latency above 2 s"
    assert message["From"] == "opsyard@example.com"
    assert providers.mail.envelopes[0].rcpt_tos == ["ops@example.com", "lead@example.com"]
    row = notification(world.ctx, sent)
    assert message["Message-ID"] == f"<{row.message_id}@opsyard>"
    assert "p99 is 2.4 s" in message.get_payload()
    assert (row.status, row.provider_status) == ("sent", 250)
    assert providers.mail.logins == [providers.mail.USERNAME]

    world.ctx.settings = world.ctx.settings.model_copy(update={"smtp_password": "wrong"})
    refused = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, refused)
    # 535: bad credentials will not fix themselves within the retry window.
    assert (row.status, row.provider_status) == ("failed", 535)


def test_smtp_codes_decide_between_retry_and_failure(world: World, providers: Providers) -> None:
    channel, _ = add_channel(world, kind="email", to=["ops@example.com"])
    providers.mail.handler.rcpt_reply = "550 5.1.1 No such user"
    refused = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, refused)
    assert (row.status, row.provider_status) == ("failed", 550)
    assert "No such user" in (row.last_error or "")

    providers.mail.handler.rcpt_reply = "451 4.3.0 Try again later"
    deferred = _notify(world, channel)
    run_sender(world.ctx, T0)
    row = notification(world.ctx, deferred)
    assert (row.status, row.provider_status) == ("pending", 451)

    providers.mail.handler.rcpt_reply = None
    assert row.next_attempt_at is not None
    run_sender(world.ctx, row.next_attempt_at)
    assert notification(world.ctx, deferred).status == "sent"
    assert len(providers.mail.messages) == 1
