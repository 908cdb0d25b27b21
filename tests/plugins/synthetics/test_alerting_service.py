"""Alerting on stored runs: three locations, a critical check with a 2-of-3 quorum, and the
pages and notifications that reach a PagerDuty-format receiver and a Slack-format one on
loopback through the team's real channels."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from opsyard.config import Settings
from opsyard.db.engine import session_scope
from opsyard.events.models import StoredEvent
from opsyard.teams.models import Team
from opsyard_synthetics import alerting_service, events, locations, service
from opsyard_synthetics.alerting import Decision
from opsyard_synthetics.models import Alert, Check
from opsyard_synthetics.models import LocationState as LocationStateRow
from tests.conftest import World
from tests.core.notifications.helpers import ROUTING_KEY, T0, add_channel, add_rotation, run_sender
from tests.core.notifications.receivers import PagerDutyReceiver, SlackReceiver

KEY = "synthetics/alpha/checkout"
STEP = timedelta(minutes=1)

CHECKS = """\
version: 1
checks:
  - name: api
    kind: http
    critical: true
    locations: [eu, us, ap]
    quorum: {failing: 2, of: 3}
    steps:
      - url: https://api.example.com/livez
  - name: checkout
    kind: http
    critical: true
    locations: [eu, us, ap]
    quorum: {failing: 2, of: 3}
    depends_on: api
    steps:
      - url: https://shop.example.com/checkout
  - name: search
    kind: http
    critical: true
    locations: [eu, us, ap]
    quorum: {failing: 1}
    steps:
      - url: https://shop.example.com/search
  - name: docs
    kind: http
    locations: [eu, us, ap]
    quorum: {failing: 2, of: 3}
    steps:
      - url: https://docs.example.com/
"""


class Receivers:
    def __init__(self) -> None:
        self.pagerduty = PagerDutyReceiver()
        self.slack = SlackReceiver()


@pytest.fixture(scope="module")
def running_receivers() -> Iterator[Receivers]:
    found = Receivers()
    found.pagerduty.start()
    found.slack.start()
    yield found
    found.pagerduty.stop()
    found.slack.stop()


@pytest.fixture
def receivers(running_receivers: Receivers) -> Receivers:
    running_receivers.pagerduty.reset()
    running_receivers.slack.reset()
    return running_receivers


@pytest.fixture
def settings(settings: Settings, receivers: Receivers) -> Settings:
    return settings.model_copy(
        update={
            "pagerduty_events_url": receivers.pagerduty.url,
            "slack_webhook_url": receivers.slack.url,
        }
    )


@pytest.fixture
def alpha(syn_world: World, receivers: Receivers, recording_path: str) -> World:
    """alpha with bob on call at T0, a PagerDuty and a Slack channel, and the checks above;
    runs are recorded one by one or in batches (`recording_path`)."""
    return _set_up_alpha(syn_world, receivers)


@pytest.fixture
def alpha_batches(syn_world: World, receivers: Receivers) -> World:
    """alpha as above, for tests that call `record_runs` themselves."""
    return _set_up_alpha(syn_world, receivers)


def _set_up_alpha(syn_world: World, receivers: Receivers) -> World:
    add_rotation(syn_world, "alice", "bob")
    add_channel(syn_world, kind="pagerduty", routing_key=ROUTING_KEY)
    add_channel(syn_world, kind="slack", webhook_url=receivers.slack.hook_url)
    with session_scope(syn_world.ctx.sessions) as session:
        service.apply_checks(
            session,
            portal=syn_world.ctx,
            team=_team(session),
            text=CHECKS,
            actor=None,
            now=T0 - timedelta(hours=1),
        )
    return syn_world


def _team(session: Session, slug: str = "alpha") -> Team:
    team = session.scalar(select(Team).where(Team.slug == slug))
    assert team is not None
    return team


# Every test runs twice: through `record_run`, one run under the check's lock, and through
# `record_runs`, which the runner's batches use and which takes the lock only when it must.
_PATH = {"name": "one"}


@pytest.fixture(params=["one", "batch"])
def recording_path(request: pytest.FixtureRequest) -> Iterator[str]:
    _PATH["name"] = request.param
    yield request.param
    _PATH["name"] = "one"


def record(
    session: Session, world: World, *, check: Check, location: str, outcome: str, at: datetime
) -> Decision | None:
    """Fold one run into alerting the way the test's path does."""
    if _PATH["name"] == "one":
        return alerting_service.record_run(
            session, portal=world.ctx, check=check, location=location, outcome=outcome, at=at
        )
    observed = alerting_service.Observed(check=check, location=location, outcome=outcome, at=at)
    [decision] = alerting_service.record_runs(session, portal=world.ctx, runs=[observed])
    return decision


def run(
    world: World, location: str, outcome: str, at: datetime, check: str = "checkout"
) -> Decision:
    """Record one run of `check` from `location`, as the run job does after storing it."""
    with session_scope(world.ctx.sessions) as session:
        row = service.get_check(session, team=_team(session), name=check)
        decision = record(session, world, check=row, location=location, outcome=outcome, at=at)
    assert decision is not None
    return decision


def alerts(world: World) -> list[Alert]:
    with session_scope(world.ctx.sessions) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def stored_events(world: World) -> list[tuple[str, dict[str, object]]]:
    with session_scope(world.ctx.sessions) as session:
        rows = session.scalars(
            select(StoredEvent)
            .where(StoredEvent.name.in_([events.ALERT_TRIGGERED, events.ALERT_RESOLVED]))
            .order_by(StoredEvent.id)
        )
        return [(row.name, dict(row.payload)) for row in rows]


def pages(receivers: Receivers) -> list[tuple[str, str]]:
    return [(e["event_action"], e["dedup_key"]) for e in receivers.pagerduty.events]


def test_one_failing_location_pages_nobody(alpha: World, receivers: Receivers) -> None:
    at = T0
    for _ in range(4):
        run(alpha, "us", "ok", at)
        run(alpha, "ap", "ok", at)
        decision = run(alpha, "eu", "failing", at)
        at += STEP
    assert decision.failing_locations == ("eu",)
    assert (decision.level, decision.action) == ("none", "none")
    assert "1 failing and 0 degraded of 3 locations; quorum is 2 of 3" in decision.reason
    run_sender(alpha.ctx, at)
    assert receivers.pagerduty.events == [] and receivers.slack.messages == []
    assert alerts(alpha) == [] and stored_events(alpha) == []


def test_two_of_three_page_once_and_recovery_resolves_with_the_same_key(
    alpha: World, receivers: Receivers
) -> None:
    at = T0
    decisions = []
    for location in ("eu", "us", "eu", "us"):
        decisions.append(run(alpha, location, "failing", at))
        at += STEP
    # eu fails at its second run (1 of 3); us's second run makes the quorum.
    assert [d.action for d in decisions] == ["none", "none", "none", "trigger"]
    assert decisions[-1].level == "page" and decisions[-1].failing_locations == ("eu", "us")
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [("trigger", KEY)]
    [event] = receivers.pagerduty.events
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["summary"] == "Synthetic check checkout is failing"
    assert event["payload"]["custom_details"]["failing_locations"] == ["eu", "us"]
    [chat] = receivers.slack.messages
    assert chat["text"].startswith("[PAGE · CRITICAL] Synthetic check checkout is failing")
    assert "Bob" in chat["text"]  # the engineer on call at T0

    # More failing runs, from every location: the page stays the one page.
    for _ in range(3):
        for location in ("eu", "us", "ap"):
            assert run(alpha, location, "failing", at).action == "keep"
            at += STEP
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [("trigger", KEY)] and receivers.pagerduty.opened == 1
    with session_scope(alpha.ctx.sessions) as session:
        [open_alert] = alerting_service.open_alerts(session, team_id=_team(session).id)
        assert (open_alert.level, open_alert.dedup_key) == ("page", KEY)
        assert open_alert.failing_locations == ["ap", "eu", "us"]
        assert alerting_service.open_alerts(session, team_id=_team(session, "beta").id) == []

    # Recovery: two ok runs per location (the success threshold) bring each back.
    recovered = [run(alpha, loc, "ok", at + i * STEP) for i, loc in enumerate(["eu", "eu", "us"])]
    assert [d.action for d in recovered] == ["keep", "keep", "keep"]
    resolved = run(alpha, "us", "ok", at + 3 * STEP)
    assert (resolved.level, resolved.action) == ("none", "resolve")
    assert resolved.failing_locations == ("ap",)
    run_sender(alpha.ctx, at + 3 * STEP)
    assert pages(receivers) == [("trigger", KEY), ("resolve", KEY)]
    assert receivers.pagerduty.incidents == {(ROUTING_KEY, KEY): "resolved"}
    assert receivers.slack.messages[-1]["text"].startswith("[RESOLVED")

    [alert] = alerts(alpha)
    assert alert.status == "resolved" and alert.resolved_at == at + 3 * STEP
    assert [
        (name, payload["level"], payload["locations"]) for name, payload in stored_events(alpha)
    ] == [
        (events.ALERT_TRIGGERED, "page", ["eu", "us"]),
        (events.ALERT_RESOLVED, "page", ["ap", "us"]),
    ]
    with session_scope(alpha.ctx.sessions) as session:
        check = service.get_check(session, team=_team(session), name="checkout")
        assert check.alert_level == "none"
        assert [a.id for a in alerting_service.alert_history(session, check_id=check.id)] == [
            alert.id
        ]

    # Failing again later is a new incident under the same key.
    for location in ("eu", "us"):
        run(alpha, location, "failing", at + 10 * STEP)
    last = run(alpha, "us", "failing", at + 11 * STEP)
    assert last.action == "trigger"
    run_sender(alpha.ctx, at + 11 * STEP)
    assert pages(receivers)[-1] == ("trigger", KEY) and receivers.pagerduty.opened == 2
    assert len(alerts(alpha)) == 2


def test_a_degraded_quorum_notifies_instead_of_paging(alpha: World, receivers: Receivers) -> None:
    at = T0
    for location in ("eu", "us", "eu"):
        run(alpha, location, "degraded", at)
        at += STEP
    notified = run(alpha, "us", "degraded", at)
    assert (notified.level, notified.action) == ("notify", "trigger")
    assert notified.degraded_locations == ("eu", "us")
    run_sender(alpha.ctx, at)
    assert receivers.pagerduty.events == []  # a notification wakes nobody up
    [chat] = receivers.slack.messages
    assert chat["text"].startswith("[WARNING] Synthetic check checkout is degraded")
    [alert] = alerts(alpha)
    assert (alert.level, alert.status) == ("notify", "open")

    # The same locations go on to fail: the notification escalates to a page, same alert.
    for location in ("eu", "us", "eu"):
        at += STEP
        run(alpha, location, "failing", at)
    at += STEP
    paged = run(alpha, "us", "failing", at)
    assert (paged.level, paged.action) == ("page", "trigger")
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [("trigger", KEY)]
    [alert] = alerts(alpha)
    assert alert.level == "page"

    recovering = []
    for location in ("eu", "eu"):
        at += STEP
        recovering.append(run(alpha, location, "ok", at).action)
    # With eu back, one failing location is below the quorum: the alert resolves.
    assert recovering == ["keep", "resolve"]
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [("trigger", KEY), ("resolve", KEY)]
    assert [name for name, _ in stored_events(alpha)] == [
        events.ALERT_TRIGGERED,
        events.ALERT_TRIGGERED,
        events.ALERT_RESOLVED,
    ]


def test_a_check_that_is_not_critical_notifies_when_it_fails(
    alpha: World, receivers: Receivers
) -> None:
    for i, location in enumerate(("eu", "us", "eu", "us")):
        decision = run(alpha, location, "failing", T0 + i * STEP, check="docs")
    assert (decision.level, decision.action) == ("notify", "trigger")
    run_sender(alpha.ctx, T0 + 4 * STEP)
    assert receivers.pagerduty.events == []
    [chat] = receivers.slack.messages
    assert chat["text"].startswith("[WARNING] Synthetic check docs is degraded")
    recovering = [run(alpha, "eu", "ok", T0 + (5 + i) * STEP, check="docs") for i in range(2)]
    assert [d.action for d in recovering] == ["keep", "resolve"]
    run_sender(alpha.ctx, T0 + 9 * STEP)
    assert receivers.pagerduty.events == []
    assert receivers.slack.messages[-1]["text"].startswith("[INFO] Synthetic check docs recovered")


def test_a_maintenance_window_silences_while_runs_still_count(
    alpha: World, receivers: Receivers
) -> None:
    with session_scope(alpha.ctx.sessions) as session:
        service.add_maintenance(
            session,
            team=_team(session),
            starts_at=T0,
            ends_at=T0 + timedelta(minutes=30),
            actor=None,
            reason="database upgrade",
        )
    at = T0
    for location in ("eu", "us", "eu", "us"):
        decision = run(alpha, location, "failing", at)
        at += STEP
    assert (decision.level, decision.action) == ("none", "none")
    assert decision.silenced_by == "maintenance"
    assert decision.failing_locations == ("eu", "us")  # the runs were still recorded
    assert decision.reason.endswith("silenced by a maintenance window")
    run_sender(alpha.ctx, at)
    assert receivers.pagerduty.events == [] and alerts(alpha) == []

    # Still failing when the window ends: the first run after it pages.
    after = run(alpha, "eu", "failing", T0 + timedelta(minutes=30))
    assert (after.level, after.action) == ("page", "trigger")
    run_sender(alpha.ctx, T0 + timedelta(minutes=30))
    assert pages(receivers) == [("trigger", KEY)]


def test_a_failing_parent_silences_its_child(alpha: World, receivers: Receivers) -> None:
    at = T0
    for location in ("eu", "us", "eu", "us"):
        parent = run(alpha, location, "failing", at, check="api")
        at += STEP
    assert parent.action == "trigger"
    for location in ("eu", "us", "eu", "us"):
        child = run(alpha, location, "failing", at)
        at += STEP
    assert (child.level, child.action, child.silenced_by) == ("none", "none", "dependency")
    assert child.reason.endswith("silenced by a failing parent check")
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [("trigger", "synthetics/alpha/api")]

    # The parent recovers while the child still fails: now the child's own failure pages.
    for location in ("eu", "eu", "us", "us"):
        run(alpha, location, "ok", at, check="api")
        at += STEP
    child = run(alpha, "eu", "failing", at)
    assert (child.level, child.action) == ("page", "trigger")
    run_sender(alpha.ctx, at)
    assert pages(receivers) == [
        ("trigger", "synthetics/alpha/api"),
        ("resolve", "synthetics/alpha/api"),
        ("trigger", KEY),
    ]


def test_a_parent_at_its_failing_quorum_silences_even_when_it_is_silenced_itself(
    alpha: World, receivers: Receivers
) -> None:
    with session_scope(alpha.ctx.sessions) as session:
        service.add_maintenance(
            session,
            team=_team(session),
            check_name="api",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            actor=None,
        )
    at = T0
    for location in ("eu", "us", "eu", "us"):
        parent = run(alpha, location, "failing", at, check="api")
        at += STEP
    assert (parent.level, parent.silenced_by) == ("none", "maintenance")
    for location in ("eu", "us", "eu", "us"):
        child = run(alpha, location, "failing", at)
        at += STEP
    assert child.silenced_by == "dependency"
    run_sender(alpha.ctx, at)
    assert receivers.pagerduty.events == []


def test_an_unhealthy_location_is_left_out_of_the_quorum(
    alpha: World, receivers: Receivers
) -> None:
    with session_scope(alpha.ctx.sessions) as session:
        for name in ("eu", "us", "ap"):
            locations.record_heartbeat(session, location=name, by="probe:1", at=T0)
            locations.record_canary(
                session,
                location=name,
                result=locations.CanaryResult(ok=name != "ap", reason="canary failing: timeout"),
                at=T0,
            )
    assert locations.update_health(alpha.ctx, at=T0) == ["ap"]

    at = T0
    run(alpha, "us", "ok", at)
    for location in ("ap", "eu", "ap", "eu"):
        decision = run(alpha, location, "failing", at)
        at += STEP
    # Two locations fail, but ap's failure says more about ap than about the target.
    assert decision.considered == ("eu", "us")
    assert (decision.level, decision.action) == ("none", "none")
    assert decision.reason.endswith("left out as unhealthy: ap")
    run_sender(alpha.ctx, at)
    assert receivers.pagerduty.events == []

    for location in ("us", "us"):
        decision = run(alpha, location, "failing", at)
        at += STEP
    assert (decision.action, decision.failing_locations) == ("trigger", ("eu", "us"))


def test_an_error_run_neither_raises_nor_clears_an_alert(alpha: World) -> None:
    at = T0
    for location in ("eu", "us", "eu", "us"):
        run(alpha, location, "failing", at)
        at += STEP
    for location in ("eu", "us", "eu", "us"):
        assert run(alpha, location, "error", at).action == "keep"
        at += STEP
    with session_scope(alpha.ctx.sessions) as session:
        states = session.scalars(select(LocationStateRow).order_by(LocationStateRow.location))
        assert [(s.location, s.status, s.failures) for s in states] == [
            ("eu", "failing", 2),
            ("us", "failing", 2),
        ]


def test_two_locations_finishing_at_once_open_one_alert(alpha: World, receivers: Receivers) -> None:
    """`search` pages on one failing location: eu and us reach it at the same moment, and
    only one of them may open the alert."""
    run(alpha, "eu", "failing", T0, check="search")
    run(alpha, "us", "failing", T0, check="search")
    start = threading.Barrier(2)
    decisions: list[Decision] = []
    failures: list[BaseException] = []

    def finish(location: str) -> None:
        try:
            with session_scope(alpha.ctx.sessions) as session:
                check = service.get_check(session, team=_team(session), name="search")
                start.wait(timeout=10)
                decision = record(
                    session,
                    alpha,
                    check=check,
                    location=location,
                    outcome="failing",
                    at=T0 + STEP,
                )
                assert decision is not None
                decisions.append(decision)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=finish, args=(name,)) for name in ("eu", "us")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted(d.action for d in decisions) == ["keep", "trigger"]
    [alert] = alerts(alpha)
    assert alert.dedup_key == "synthetics/alpha/search"
    assert [name for name, _ in stored_events(alpha)] == [events.ALERT_TRIGGERED]
    run_sender(alpha.ctx, T0 + STEP)
    assert pages(receivers) == [("trigger", "synthetics/alpha/search")]


def test_a_switched_off_check_decides_nothing(alpha: World) -> None:
    with session_scope(alpha.ctx.sessions) as session:
        check = service.get_check(session, team=_team(session), name="checkout")
        check.enabled = False
    with session_scope(alpha.ctx.sessions) as session:
        check = session.scalars(select(Check).where(Check.name == "checkout")).one()
        assert record(session, alpha, check=check, location="eu", outcome="failing", at=T0) is None
        assert session.scalars(select(LocationStateRow)).all() == []


def test_a_batch_locks_only_the_checks_whose_alert_can_change(alpha_batches: World) -> None:
    """Steady ok runs of many checks are folded in without a single write to a check row;
    a run that moves its location's status takes its check's lock and is decided under it."""
    with session_scope(alpha_batches.ctx.sessions) as session:
        checks = {row.name: row for row in session.scalars(select(Check))}
        steady = [
            alerting_service.Observed(check=checks[name], location=location, outcome="ok", at=T0)
            for name in ("api", "search", "docs")
            for location in ("eu", "us", "ap")
        ]
        alerting_service.record_runs(session, portal=alpha_batches.ctx, runs=steady)
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE SYNTHETICS_CHECKS"):
            writes.append(" ".join(statement.split()))

    event.listen(alpha_batches.ctx.engine, "before_cursor_execute", count)
    try:
        with session_scope(alpha_batches.ctx.sessions) as session:
            checks = {row.name: row for row in session.scalars(select(Check))}
            again = [
                alerting_service.Observed(
                    check=checks[item.check.name],
                    location=item.location,
                    outcome="ok",
                    at=T0 + STEP,
                )
                for item in steady
            ]
            decisions = alerting_service.record_runs(session, portal=alpha_batches.ctx, runs=again)
        assert [d.action if d else None for d in decisions] == ["none"] * len(again)
        assert writes == []
        with session_scope(alpha_batches.ctx.sessions) as session:
            search = session.scalars(select(Check).where(Check.name == "search")).one()
            failing = [
                alerting_service.Observed(
                    check=search, location="eu", outcome="failing", at=T0 + 2 * STEP + i * STEP
                )
                for i in range(2)
            ]
            decisions = alerting_service.record_runs(
                session, portal=alpha_batches.ctx, runs=failing
            )
        # The second failing run moves eu to failing: search pages on one location.
        assert [d.action if d else None for d in decisions] == ["none", "trigger"]
        # One lock (the no-op UPDATE), then the new alert level; no other check is written.
        lock, level = writes
        assert lock.startswith("UPDATE synthetics_checks SET alert_level=synthetics_checks.")
        assert level.startswith("UPDATE synthetics_checks SET alert_level=")
        assert "synthetics_checks.alert_level" not in level.split(" WHERE")[0]
    finally:
        event.remove(alpha_batches.ctx.engine, "before_cursor_execute", count)
    with session_scope(alpha_batches.ctx.sessions) as session:
        states = {
            (row.check_id, row.location): (row.status, row.successes)
            for row in session.scalars(select(LocationStateRow))
        }
    assert len(states) == 9
    assert states[(search.id, "eu")] == ("failing", 0)
    assert states[(search.id, "us")] == ("ok", 2)
