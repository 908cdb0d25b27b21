"""Integrations in a real browser: a Slack channel and an outbound webhook, the secret shown
once with its copy button, a failed delivery redelivered; and the new pages at phone width."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsyard.config import Settings
from opsyard.db.engine import session_scope
from opsyard.jobs import service as jobs
from opsyard.jobs.catalogue import load_catalogue
from opsyard.notifications import channels, service
from opsyard.notifications.sender import deliver_due as send_notifications
from opsyard.oncall import service as oncall
from opsyard.webhooks.deliver import deliver_due
from opsyard.webhooks.models import WebhookDelivery
from tests.conftest import World
from tests.core.webhooks.helpers import emit_notes, run_job
from tests.core.webhooks.receiver import Receiver
from tests.e2e.conftest import screenshot
from tests.e2e.test_browser import assert_fits_the_screen, log_in

pytestmark = pytest.mark.browser

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_timeout_seconds": 2.0})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _fail_every_attempt(world: World) -> None:
    """Run the delivery job as the clock moves on, until the retry schedule gives up."""
    at = datetime.now(UTC)
    for _ in range(12):
        deliver_due(world.ctx, at=at)
        at += timedelta(days=1)
    with world.session() as session:
        statuses = {d.status for d in session.query(WebhookDelivery)}
    assert statuses == {"failed"}, statuses


def test_a_webhook_secret_is_shown_once_and_a_failed_delivery_is_redelivered(
    page: Any, world: World, receiver: Receiver
) -> None:
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "alice", path="/t/alpha/integrations")
    page.wait_for_url("**/t/alpha/integrations")
    expect(page.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()

    # A Slack channel: its URL is a credential, never shown back.
    channels_section = page.locator("#channels")
    channels_section.get_by_label("Kind").select_option("slack")
    channels_section.get_by_label("Name").fill("#alpha-alerts")
    channels_section.get_by_label("Slack webhook URL").fill(SLACK_URL)
    expect(channels_section.get_by_label("Routing key")).to_be_hidden()
    channels_section.get_by_role("button", name="Add channel").click()
    expect(page.locator("#channels")).to_contain_text("Channel “#alpha-alerts” is added.")
    expect(page.get_by_role("heading", name="#alpha-alerts")).to_be_visible()
    assert SLACK_URL not in page.content()

    # An outbound webhook: its signing secret is shown once, with a working copy button.
    webhooks = page.locator("#webhooks")
    webhooks.get_by_label("Receiver URL").fill(receiver.url)
    webhooks.get_by_label("fixture.note.created").check()
    webhooks.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#webhooks")).to_contain_text("it is shown only this once")
    secret_box = page.locator("#webhooks").get_by_label("Secret", exact=True)
    secret = secret_box.input_value()
    assert secret.startswith("whsec_")
    page.locator("#webhooks").get_by_role("button", name="Copy Secret").click()
    copy = page.locator(f'[data-copy-target="{secret_box.get_attribute("id")}"]')
    expect(copy).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "integrations-secret-shown")

    page.reload()
    expect(page.get_by_role("heading", name="Outbound webhooks")).to_be_visible()
    assert secret not in page.content()
    screenshot(page, "integrations")

    # The receiver fails every attempt until the schedule gives up.
    receiver.secrets = [secret]
    receiver.set_mode("error")
    emit_notes(world.ctx)
    run_job(world.ctx, "core.events.dispatch", datetime.now(UTC))
    _fail_every_attempt(world)

    page.get_by_role("link", name=f"Delivery log of {receiver.url}").click()
    expect(page.get_by_role("heading", name="Webhook deliveries")).to_be_visible()
    failed_row = page.locator("#delivery-1")
    expect(failed_row).to_contain_text("failed")
    expect(failed_row).to_contain_text("HTTP 500: boom")
    expect(failed_row).to_contain_text("ms")
    screenshot(page, "deliveries-failed")

    # Redeliver: the row replaces itself with the new delivery above the old one.
    receiver.set_mode("ok")
    failed_row.get_by_role("button", name="Redeliver delivery #1").click()
    expect(page.locator("#delivery-2")).to_contain_text("pending")
    expect(page.locator("#delivery-2")).to_contain_text("redelivery of #1")
    expect(page.locator("#delivery-1")).to_contain_text("redelivered as #2")
    expect(page.get_by_role("button", name="Redeliver delivery #1")).to_have_count(0)
    screenshot(page, "deliveries-redelivered")

    run_job(world.ctx, "core.webhooks.deliver", datetime.now(UTC))
    page.reload()
    expect(page.locator("#delivery-2")).to_contain_text("succeeded")
    assert receiver.verified(), "the receiver could not verify with the secret shown"


PHONE_PAGES = [
    "/t/alpha/integrations",
    "/t/alpha/integrations/webhooks/1",
    "/t/alpha/integrations/inbound/{inbound}",
    "/t/alpha/integrations/notifications",
    "/t/alpha/integrations/events",
    "/t/alpha/oncall",
    "/admin/jobs",
]


def _populate(world: World, receiver: Receiver) -> str:
    """Something on every page: channels, a failed notification, a delivery, an inbound
    integration, a rotation with an override, and job runs. Returns the inbound id."""
    from opsyard.inbound import service as inbound
    from opsyard.webhooks import service as webhooks

    ctx = world.ctx
    now = datetime.now(UTC)
    with session_scope(ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])
        alice = session.merge(world.people["alice"])
        bob = session.merge(world.people["bob"])
        channels.create_channel(
            session,
            team=alpha,
            kind="slack",
            name="#alpha-alerts",
            settings=ctx.settings,
            actor=alice,
            webhook_url=SLACK_URL,
        )
        dead = channels.create_channel(
            session,
            team=alpha,
            kind="webhook",
            name="incident bot",
            settings=ctx.settings,
            actor=alice,
            url="http://127.0.0.1:9/unreachable",
        )
        service.notify(
            session,
            team=alpha,
            summary="Checkout error rate above 5% for 10 minutes",
            severity="error",
            channels=[dead.channel.id],
        )
        webhooks.create_subscription(
            session,
            team=alpha,
            url=receiver.url,
            event_types=["*"],
            description="Incident timeline bot",
            registry=ctx.registry,
            allow_private=True,
            actor=alice,
        )
        integration, _ = inbound.create_integration(
            session, team=alpha, provider="github", name="payments-api repository", actor=alice
        )
        rotation = oncall.create_rotation(
            session,
            team=alpha,
            name="primary",
            timezone="Europe/Berlin",
            handoff_time=datetime.strptime("09:00", "%H:%M").time(),
            period="weekly",
            start_date=(now - timedelta(days=10)).date(),
            members=[alice, bob],
            actor=alice,
        )
        oncall.add_override(
            session,
            team=alpha,
            rotation=rotation,
            user=bob,
            starts_at=now + timedelta(days=2),
            ends_at=now + timedelta(days=3),
            actor=alice,
        )
        public_id = integration.public_id
    for step in range(8):
        send_notifications(ctx, at=now + timedelta(hours=step))
    receiver.set_mode("error")
    emit_notes(ctx, count=2)
    run_job(ctx, "core.events.dispatch", now)
    deliver_due(ctx, at=now)
    jobs.run_now(
        ctx,
        catalogue=load_catalogue(ctx.registry),
        name="core.events.dispatch",
        team=None,
        at=None,
        worker="e2e",
    )
    return public_id


def test_the_new_pages_fit_a_phone_screen(
    browser: Any, live_server: str, world: World, receiver: Receiver
) -> None:
    public_id = _populate(world, receiver)
    for width in (1280, 375):
        context = browser.new_context(
            base_url=live_server, viewport={"width": width, "height": 800}
        )
        try:
            page = context.new_page()
            log_in(page, "root")
            page.wait_for_url(live_server + "/")
            for path in PHONE_PAGES:
                page.goto(path.format(inbound=public_id))
                if width == 375:
                    assert_fits_the_screen(page, path.split("{")[0])
                else:
                    screenshot(page, "wide" + path.split("{")[0].replace("/", "-"))
        finally:
            context.close()
