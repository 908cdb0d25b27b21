"""page_oncall and notify: one dedup key from trigger to resolve, reaching the right person."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.notifications import service
from opsyard.notifications.service import PageResult
from opsyard.oncall import service as oncall
from tests.conftest import World
from tests.core.notifications.conftest import Providers
from tests.core.notifications.helpers import (
    ROUTING_KEY,
    T0,
    add_channel,
    add_rotation,
    notifications,
    run_sender,
    team,
)


def _page(world: World, action: str = "trigger", at: datetime = T0, **kwargs: object) -> PageResult:
    with session_scope(world.ctx.sessions) as session:
        return _page_in(session, world, action=action, at=at, **kwargs)


def _page_in(session: Session, world: World, **kwargs: object) -> PageResult:
    kwargs.setdefault("summary", "Checkout failing in eu-west-1")
    kwargs.setdefault("severity", "critical")
    kwargs.setdefault("dedup_key", "checkout-eu")
    return service.page_oncall(session, team=team(session, world), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def every_channel(world: World, providers: Providers) -> dict[str, int]:
    """alpha has one channel of each kind; bob is on call at T0 (alice the day before)."""
    add_rotation(world, "alice", "bob")
    ids = {
        "pagerduty": add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)[0],
        "slack": add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)[0],
        "email": add_channel(world, kind="email", to=["team-alpha@example.com"])[0],
    }
    hook, secret = add_channel(world, kind="webhook", url=providers.webhook.url + "/pages")
    providers.webhook.secret = secret
    ids["webhook"] = hook
    return ids


def test_trigger_acknowledge_resolve_with_one_dedup_key(
    world: World, providers: Providers, every_channel: dict[str, int]
) -> None:
    triggered = _page(world, details={"error_rate": "12%"})
    assert not triggered.deduplicated
    assert sorted(n.channel_kind for n in triggered.notifications) == sorted(every_channel)
    run_sender(world.ctx, T0)

    [event] = providers.pagerduty.events
    assert (event["event_action"], event["dedup_key"]) == ("trigger", "checkout-eu")
    assert event["payload"]["custom_details"]["error_rate"] == "12%"
    [chat] = providers.slack.messages
    assert "On call: Bob &lt;bob@example.com&gt;" in chat["text"]
    assert chat["text"].startswith("[PAGE · CRITICAL] Checkout failing")
    [mail] = providers.mail.envelopes
    assert mail.rcpt_tos == ["bob@example.com"]  # the person on call, not the team list
    [hook] = providers.webhook.verified
    assert hook["type"] == "page.triggered"
    assert hook["data"]["on_call"] == {"name": "Bob", "email": "bob@example.com"}

    acknowledged = _page(world, "acknowledge", at=T0 + timedelta(minutes=3))
    assert len(acknowledged.notifications) == 4
    assert acknowledged.page is not None and acknowledged.page.status == "acknowledged"
    resolved = _page(world, "resolve", at=T0 + timedelta(minutes=40))
    assert resolved.page is not None and resolved.page.status == "resolved"
    run_sender(world.ctx, T0 + timedelta(minutes=40))

    assert [(e["event_action"], e["dedup_key"]) for e in providers.pagerduty.events] == [
        ("trigger", "checkout-eu"),
        ("acknowledge", "checkout-eu"),
        ("resolve", "checkout-eu"),
    ]
    assert providers.pagerduty.incidents == {(ROUTING_KEY, "checkout-eu"): "resolved"}
    assert [m["text"].split("]")[0] for m in providers.slack.messages] == [
        "[PAGE · CRITICAL",
        "[ACKNOWLEDGED",
        "[RESOLVED",
    ]
    assert [e.rcpt_tos for e in providers.mail.envelopes] == [["bob@example.com"]] * 3
    assert [p["type"] for p in providers.webhook.verified] == [
        "page.triggered",
        "page.acknowledged",
        "page.resolved",
    ]
    assert {n.status for n in notifications(world.ctx)} == {"sent"}


def test_triggering_an_open_page_again_pages_nobody_twice(
    world: World, providers: Providers
) -> None:
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    first = _page(world)
    again = _page(world, at=T0 + timedelta(minutes=1))
    assert again.deduplicated and again.notifications == []
    _page(world, "acknowledge", at=T0 + timedelta(minutes=2))
    assert _page(world, at=T0 + timedelta(minutes=3)).deduplicated  # acknowledged is open
    assert _page(world, "acknowledge", at=T0 + timedelta(minutes=4)).deduplicated
    run_sender(world.ctx, T0 + timedelta(minutes=4))
    assert providers.pagerduty.opened == 1
    assert [e["event_action"] for e in providers.pagerduty.events] == ["trigger", "acknowledge"]

    _page(world, "resolve", at=T0 + timedelta(minutes=5))
    assert _page(world, "resolve", at=T0 + timedelta(minutes=6)).deduplicated
    # Resolved, the same key opens a new incident.
    reopened = _page(world, at=T0 + timedelta(hours=1))
    assert not reopened.deduplicated and reopened.page is not None
    assert first.page is not None and reopened.page.id == first.page.id
    run_sender(world.ctx, T0 + timedelta(hours=1))
    assert providers.pagerduty.opened == 2
    assert providers.pagerduty.incidents == {(ROUTING_KEY, "checkout-eu"): "triggered"}


def test_acknowledging_or_resolving_an_unknown_page_does_nothing(world: World) -> None:
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    for action in ("acknowledge", "resolve"):
        result = _page(world, action, dedup_key="never-triggered")
        assert result == PageResult(None, [], deduplicated=True)
    assert notifications(world.ctx) == []


def test_two_triggers_racing_open_one_page(world: World, providers: Providers) -> None:
    add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    results: list[PageResult] = []
    failures: list[BaseException] = []

    def second_trigger() -> None:
        try:
            results.append(_page(world, at=T0 + timedelta(seconds=1)))
        except BaseException as exc:
            failures.append(exc)

    with session_scope(world.ctx.sessions) as session:
        results.append(_page_in(session, world, action="trigger", at=T0))
        racer = threading.Thread(target=second_trigger)
        racer.start()
        time.sleep(0.3)  # the racer is now waiting on our uncommitted page
    racer.join(timeout=30)
    assert failures == []
    assert sorted(r.deduplicated for r in results) == [False, True]
    run_sender(world.ctx, T0 + timedelta(seconds=1))
    assert providers.pagerduty.opened == 1
    assert len(notifications(world.ctx)) == 1


def test_pages_reach_whoever_the_rotation_or_an_override_names(
    world: World, providers: Providers
) -> None:
    rotation_id = add_rotation(world, "alice", "bob")
    add_channel(world, kind="email", to=["team-alpha@example.com"])
    with session_scope(world.ctx.sessions) as session:
        from opsyard.oncall.models import Rotation

        rotation = session.get(Rotation, rotation_id)
        assert rotation is not None
        oncall.add_override(
            session,
            team=team(session, world),
            rotation=rotation,
            user=session.merge(world.people["vera"]),
            starts_at=T0 + timedelta(days=1),
            ends_at=T0 + timedelta(days=1, hours=2),
            actor=None,
        )
    _page(world, dedup_key="day-0")  # bob's shift
    _page(world, dedup_key="day-1", at=T0 + timedelta(days=1, hours=1))  # vera covers
    _page(world, dedup_key="day-1b", at=T0 + timedelta(days=1, hours=3))  # alice's shift
    run_sender(world.ctx, T0 + timedelta(days=2))
    assert [e.rcpt_tos for e in providers.mail.envelopes] == [
        ["bob@example.com"],
        ["vera@example.com"],
        ["alice@example.com"],
    ]


def test_with_nobody_on_call_chat_says_so_and_email_goes_to_the_team(
    world: World, providers: Providers
) -> None:
    add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    add_channel(world, kind="email", to=["team-alpha@example.com"])
    _page(world)
    run_sender(world.ctx, T0)
    assert "Nobody is on call" in providers.slack.messages[0]["text"]
    assert providers.mail.envelopes[0].rcpt_tos == ["team-alpha@example.com"]


def test_notify_skips_pagerduty_unless_named(world: World, providers: Providers) -> None:
    pagerduty, _ = add_channel(world, kind="pagerduty", routing_key=ROUTING_KEY)
    slack, _ = add_channel(world, kind="slack", webhook_url=providers.slack.hook_url)
    add_channel(world, kind="pagerduty", team="beta", routing_key=ROUTING_KEY)
    with session_scope(world.ctx.sessions) as session:
        alpha = team(session, world)
        default = service.notify(session, team=alpha, summary="FYI", severity="info", at=T0)
        named = service.notify(
            session, team=alpha, summary="Wake up", severity="error", channels=[pagerduty], at=T0
        )
    assert [n.channel_id for n in default] == [slack]
    assert [n.channel_id for n in named] == [pagerduty]
    run_sender(world.ctx, T0)
    assert [e["payload"]["summary"] for e in providers.pagerduty.events] == ["Wake up"]


def test_bad_calls_raise_coded_errors(world: World) -> None:
    beta_channel, _ = add_channel(world, team="beta", kind="pagerduty", routing_key=ROUTING_KEY)
    calls: list[tuple[dict[str, object], str]] = [
        ({"severity": "disaster"}, "notifications.invalid_severity"),
        ({"dedup_key": "x" * 256}, "notifications.invalid_dedup_key"),
        ({"action": "snooze"}, "notifications.invalid_action"),
        ({"channels": [999]}, "notifications.unknown_channel"),
        # Another team's channel is as unknown as a missing one.
        ({"channels": [beta_channel]}, "notifications.unknown_channel"),
    ]
    for kwargs, code in calls:
        with world.ctx.sessions() as session, pytest.raises(OpsyardError) as raised:
            _page_in(session, world, **kwargs)
        assert raised.value.code == code, kwargs
