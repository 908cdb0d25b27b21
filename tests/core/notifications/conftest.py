"""Provider receivers on loopback, and settings that point the channels at them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from opsyard.config import Settings
from tests.core.notifications.receivers import (
    MailServer,
    PagerDutyReceiver,
    SignedReceiver,
    SlackReceiver,
)


@dataclass
class Providers:
    pagerduty: PagerDutyReceiver
    slack: SlackReceiver
    webhook: SignedReceiver
    mail: MailServer


@pytest.fixture(scope="session")
def running_providers() -> Iterator[Providers]:
    found = Providers(PagerDutyReceiver(), SlackReceiver(), SignedReceiver(), MailServer())
    for server in (found.pagerduty, found.slack, found.webhook, found.mail):
        server.start()
    yield found
    for server in (found.pagerduty, found.slack, found.webhook, found.mail):
        server.stop()


@pytest.fixture
def providers(running_providers: Providers) -> Providers:
    """The receivers, emptied and running (a test may have stopped one)."""
    for server in (
        running_providers.pagerduty,
        running_providers.slack,
        running_providers.webhook,
        running_providers.mail,
    ):
        server.reset()
    return running_providers


@pytest.fixture
def settings(settings: Settings, providers: Providers) -> Settings:
    return settings.model_copy(
        update={
            "allow_private_targets": True,
            "pagerduty_events_url": providers.pagerduty.url,
            "slack_webhook_url": providers.slack.url,
            "smtp_host": "127.0.0.1",
            "smtp_port": providers.mail.port,
            "smtp_security": "none",
            "smtp_from": "opsyard@example.com",
            "smtp_timeout_seconds": 5.0,
        }
    )
