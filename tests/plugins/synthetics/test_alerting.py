"""Alerting: per-location hysteresis, the quorum across locations, silences and dedup keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from opsyard_synthetics.alerting import (
    DEDUP_KEY_MAX_CHARS,
    AlertLevel,
    Decision,
    LocationState,
    RunOutcome,
    decide,
    dedup_key,
    initial_state,
    step,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
THREE = ("eu-west", "us-east", "ap-south")


def at(run: int) -> datetime:
    return T0 + timedelta(minutes=5 * run)


def walk(
    outcomes: Sequence[RunOutcome], *, failure_threshold: int = 2, success_threshold: int = 2
) -> list[LocationState]:
    """The state after each run, starting from a fresh location."""
    state = initial_state(at=T0)
    states = []
    for run, outcome in enumerate(outcomes, start=1):
        state = step(
            state,
            outcome,
            at=at(run),
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
        )
        states.append(state)
    return states


def statuses(outcomes: str, **thresholds: int) -> str:
    """Outcomes and statuses as letters: o(k), d(egraded), f(ailing), e(rror)."""
    names: dict[str, RunOutcome] = {"o": "ok", "d": "degraded", "f": "failing", "e": "error"}
    states = walk([names[letter] for letter in outcomes], **thresholds)
    return "".join(state.status[0] for state in states)


def location(status: str) -> LocationState:
    return LocationState(status=status, failures=0, successes=0, since=T0)  # type: ignore[arg-type]


def states_of(*status: str, names: Sequence[str] = THREE) -> dict[str, LocationState]:
    return {name: location(s) for name, s in zip(names, status, strict=True)}


def check(
    states: dict[str, LocationState],
    *,
    previous: AlertLevel = "none",
    healthy: Sequence[str] = THREE,
    quorum_failing: int = 2,
    quorum_of: int | None = None,
    critical: bool = True,
    in_maintenance: bool = False,
    parent_failing: bool = False,
) -> Decision:
    return decide(
        states,
        healthy=healthy,
        quorum_failing=quorum_failing,
        quorum_of=quorum_of,
        critical=critical,
        in_maintenance=in_maintenance,
        parent_failing=parent_failing,
        previous=previous,
    )


# ---------------------------------------------------------------------------------------------
# One location: hysteresis


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        # Thresholds 2/2: one bad run changes nothing, two in a row do.
        ("f", "o"),
        ("ff", "of"),
        ("fof", "ooo"),
        ("ofofofof", "oooooooo"),
        # Recovery needs two ok runs in a row: a single good run in a failure keeps it failing.
        ("ffo", "off"),
        ("ffoo", "offo"),
        ("ffofoo", "offffo"),
        # Flapping once failing: f o f o ... stays failing, it neither resolves nor re-raises.
        ("fffofofofo", "offfffffff"),
        # Degraded after two degraded-or-worse runs, and back to ok after two ok runs.
        ("dd", "od"),
        ("fd", "od"),
        ("df", "od"),
        ("ddoo", "oddo"),
        ("ddodoo", "oddddo"),
        # Degraded escalates to failing once the failing runs in a row reach the threshold.
        ("ddff", "oddf"),
        ("ddfdf", "odddd"),
        # Failing does not step down to degraded on slow runs: only recovery leaves failing.
        ("ffddd", "offff"),
        ("ffddoo", "offffo"),
        # An error counts neither way: it neither breaks nor extends a streak.
        ("fef", "oof"),
        ("ffoeo", "offfo"),
        ("eeee", "oooo"),
    ],
)
def test_hysteresis_with_thresholds_two_and_two(outcomes: str, expected: str) -> None:
    assert statuses(outcomes) == expected


@pytest.mark.parametrize(
    ("outcomes", "failure_threshold", "success_threshold", "expected"),
    [
        ("f", 1, 1, "f"),
        ("fo", 1, 1, "fo"),
        ("fff", 3, 1, "oof"),
        ("fffoo", 3, 3, "oofff"),
        ("fffooo", 3, 3, "oofffo"),
        ("d", 1, 1, "d"),
    ],
)
def test_other_thresholds(
    outcomes: str, failure_threshold: int, success_threshold: int, expected: str
) -> None:
    assert (
        statuses(outcomes, failure_threshold=failure_threshold, success_threshold=success_threshold)
        == expected
    )


def test_streak_counters_and_since() -> None:
    states = walk(["failing", "failing", "degraded", "ok", "ok"])
    assert [(s.failures, s.degradations, s.successes) for s in states] == [
        (1, 1, 0),
        (2, 2, 0),
        (0, 3, 0),
        (0, 0, 1),
        (0, 0, 2),
    ]
    # `since` moves only when the status does: failing from run 2, ok again from run 5.
    assert [s.since for s in states] == [T0, at(2), at(2), at(2), at(5)]


def test_an_error_returns_the_very_same_state() -> None:
    state = walk(["failing"])[0]
    after = step(state, "error", at=at(9), failure_threshold=2, success_threshold=2)
    assert after == state


@pytest.mark.parametrize(("failure_threshold", "success_threshold"), [(0, 1), (1, 0), (-1, 2)])
def test_thresholds_below_one_are_refused(failure_threshold: int, success_threshold: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        step(
            initial_state(at=T0),
            "failing",
            at=T0,
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
        )


# ---------------------------------------------------------------------------------------------
# The quorum across locations


def test_one_failing_location_of_three_pages_nobody() -> None:
    decision = check(states_of("failing", "ok", "ok"))
    assert (decision.level, decision.action) == ("none", "none")
    assert decision.failing_locations == ("eu-west",)
    assert decision.considered == ("ap-south", "eu-west", "us-east")
    assert "1 failing and 0 degraded of 3 locations" in decision.reason


def test_two_of_three_page_once_then_keep_then_resolve() -> None:
    failing = states_of("failing", "failing", "ok")
    first = check(failing)
    assert (first.level, first.action) == ("page", "trigger")
    assert first.failing_locations == ("eu-west", "us-east")
    assert "2 of 3 locations failing (eu-west, us-east)" in first.reason

    second = check(failing, previous=first.level)
    assert (second.level, second.action) == ("page", "keep")

    recovered = check(states_of("ok", "failing", "ok"), previous=second.level)
    assert (recovered.level, recovered.action) == ("none", "resolve")

    after = check(states_of("ok", "ok", "ok"), previous=recovered.level)
    assert (after.level, after.action) == ("none", "none")


def test_a_flapping_location_pages_once_and_resolves_once() -> None:
    # eu-west and us-east fail together, then both flap. Thresholds 2/2: a location stays
    # failing until two ok runs in a row and fails again only after two failures in a row,
    # so the page is triggered once and resolved once, and the flapping after it is quiet.
    runs: list[tuple[RunOutcome, RunOutcome]] = [
        ("failing", "failing"),
        ("failing", "failing"),
        ("ok", "failing"),
        ("failing", "failing"),
        ("ok", "failing"),
        ("failing", "ok"),
        ("ok", "ok"),
        ("failing", "ok"),
        ("ok", "failing"),
        ("failing", "ok"),
    ]
    states = {name: initial_state(at=T0) for name in THREE}
    level: AlertLevel = "none"
    actions = []
    for run, (eu, us) in enumerate(runs, start=1):
        for name, outcome in (("eu-west", eu), ("us-east", us), ("ap-south", "ok")):
            states[name] = step(
                states[name], outcome, at=at(run), failure_threshold=2, success_threshold=2
            )
        decision = check(states, previous=level)
        level = decision.level
        actions.append(decision.action)
    assert actions == [
        "none",
        "trigger",
        "keep",
        "keep",
        "keep",
        "keep",
        "resolve",
        "none",
        "none",
        "none",
    ]


@pytest.mark.parametrize(
    ("status", "quorum_failing", "quorum_of", "critical", "level", "reason"),
    [
        # Degraded quorum: N degraded-or-failing, fewer than N failing.
        (("degraded", "degraded", "ok"), 2, None, True, "notify", "2 of 3 locations degraded"),
        (("failing", "degraded", "ok"), 2, None, True, "notify", "1 failing"),
        (("degraded", "ok", "ok"), 2, None, True, "none", "0 failing and 1 degraded"),
        # A non-critical check never pages, it notifies.
        (("failing", "failing", "ok"), 2, None, False, "notify", "not critical"),
        (("failing", "failing", "failing"), 2, None, False, "notify", "3 of 3 locations failing"),
        # Quorum 1: any single failing location pages.
        (("failing", "ok", "ok"), 1, None, True, "page", "1 of 3 locations failing"),
        # An explicit `of` is what the reason reports.
        (("failing", "failing", "ok"), 2, 5, True, "page", "2 of 5 locations failing"),
        (("failing", "ok", "ok"), 2, 5, True, "none", "quorum is 2 of 5"),
    ],
)
def test_levels(
    status: tuple[str, str, str],
    quorum_failing: int,
    quorum_of: int | None,
    critical: bool,
    level: str,
    reason: str,
) -> None:
    decision = check(
        states_of(*status), quorum_failing=quorum_failing, quorum_of=quorum_of, critical=critical
    )
    assert decision.level == level
    assert decision.action == ("none" if level == "none" else "trigger")
    assert reason in decision.reason


def test_degraded_quorum_notifies_and_escalates_to_a_page_under_the_same_alert() -> None:
    notify = check(states_of("degraded", "degraded", "ok"))
    assert (notify.level, notify.action) == ("notify", "trigger")
    assert notify.degraded_locations == ("eu-west", "us-east")
    page = check(states_of("failing", "failing", "ok"), previous=notify.level)
    assert (page.level, page.action) == ("page", "trigger")
    # Easing back to a degraded quorum keeps the open alert rather than raising it again.
    eased = check(states_of("failing", "degraded", "ok"), previous=page.level)
    assert (eased.level, eased.action) == ("notify", "keep")
    resolved = check(states_of("ok", "ok", "ok"), previous=eased.level)
    assert (resolved.level, resolved.action) == ("none", "resolve")


def test_an_unhealthy_location_is_left_out_of_the_quorum() -> None:
    # ap-south's own probes are broken: its failure says nothing about the target.
    decision = check(states_of("failing", "ok", "failing"), healthy=("eu-west", "us-east"))
    assert (decision.level, decision.action) == ("none", "none")
    assert decision.considered == ("eu-west", "us-east")
    assert decision.failing_locations == ("eu-west",)
    assert "1 failing and 0 degraded of 2 locations" in decision.reason
    assert "left out as unhealthy: ap-south" in decision.reason


def test_two_healthy_failing_locations_still_page_when_a_third_is_unhealthy() -> None:
    decision = check(states_of("failing", "failing", "ok"), healthy=("eu-west", "us-east"))
    assert (decision.level, decision.action) == ("page", "trigger")
    assert "2 of 2 locations failing" in decision.reason


@pytest.mark.parametrize("previous", ["none", "page"])
def test_too_few_healthy_locations_decide_nothing(previous: AlertLevel) -> None:
    decision = check(
        states_of("failing", "failing", "failing"), healthy=("eu-west",), previous=previous
    )
    assert decision.level == previous
    assert decision.action == ("none" if previous == "none" else "keep")
    assert "only 1 healthy location, fewer than the 2 the quorum needs" in decision.reason


def test_locations_without_state_are_not_counted() -> None:
    # A location that has not run the check yet cannot vote either way.
    decision = check(
        states_of("failing", "failing", names=("eu-west", "us-east")),
        healthy=("eu-west", "us-east", "ap-south"),
    )
    assert decision.considered == ("eu-west", "us-east")
    assert decision.level == "page"


# ---------------------------------------------------------------------------------------------
# Silences: maintenance windows and failing parents


@pytest.mark.parametrize(
    ("in_maintenance", "parent_failing", "silencer", "words"),
    [
        (True, False, "maintenance", "silenced by a maintenance window"),
        (False, True, "dependency", "silenced by a failing parent check"),
        (True, True, "maintenance", "silenced by a maintenance window"),
    ],
)
def test_silences_turn_a_trigger_into_nothing(
    in_maintenance: bool, parent_failing: bool, silencer: str, words: str
) -> None:
    decision = check(
        states_of("failing", "failing", "ok"),
        in_maintenance=in_maintenance,
        parent_failing=parent_failing,
    )
    assert (decision.level, decision.action) == ("none", "none")
    assert decision.silenced_by == silencer
    assert words in decision.reason
    # The state machine kept running: the decision still knows who is failing.
    assert decision.failing_locations == ("eu-west", "us-east")


def test_a_silence_holds_back_an_escalation_but_keeps_the_open_alert() -> None:
    decision = check(states_of("failing", "failing", "ok"), previous="notify", in_maintenance=True)
    assert (decision.level, decision.action, decision.silenced_by) == (
        "notify",
        "keep",
        "maintenance",
    )


def test_an_outage_that_outlasts_the_window_triggers_when_it_ends() -> None:
    failing = states_of("failing", "failing", "ok")
    during = check(failing, in_maintenance=True)
    after = check(failing, previous=during.level)
    assert (after.level, after.action, after.silenced_by) == ("page", "trigger", None)


def test_recovery_during_a_silence_still_resolves() -> None:
    decision = check(states_of("ok", "ok", "ok"), previous="page", in_maintenance=True)
    assert (decision.level, decision.action, decision.silenced_by) == ("none", "resolve", None)
    child = check(states_of("ok", "ok", "ok"), previous="notify", parent_failing=True)
    assert (child.level, child.action) == ("none", "resolve")


def test_an_open_alert_is_kept_not_silenced_while_still_failing() -> None:
    decision = check(states_of("failing", "failing", "ok"), previous="page", in_maintenance=True)
    assert (decision.level, decision.action, decision.silenced_by) == ("page", "keep", None)


def test_a_healthy_check_is_not_marked_silenced() -> None:
    decision = check(states_of("ok", "ok", "ok"), in_maintenance=True, parent_failing=True)
    assert (decision.level, decision.action, decision.silenced_by) == ("none", "none", None)


@pytest.mark.parametrize(("quorum_failing", "quorum_of"), [(0, None), (3, 2)])
def test_impossible_quorums_are_refused(quorum_failing: int, quorum_of: int | None) -> None:
    with pytest.raises(ValueError, match="quorum"):
        check(states_of("ok", "ok", "ok"), quorum_failing=quorum_failing, quorum_of=quorum_of)


# ---------------------------------------------------------------------------------------------
# Dedup keys


def test_dedup_key_is_stable_and_per_team_and_check() -> None:
    key = dedup_key("alpha", "checkout-api")
    assert key == "synthetics/alpha/checkout-api"
    assert dedup_key("alpha", "checkout-api") == key
    assert dedup_key("beta", "checkout-api") != key
    assert dedup_key("alpha", "checkout") != key
    # Slugs and names cannot hold "/", so no two pairs share a key.
    assert dedup_key("a-b", "c") != dedup_key("a", "b-c")


def test_the_longest_names_fit_and_longer_ones_are_hashed_within_255_chars() -> None:
    longest = dedup_key("t" * 64, "c" * 100)
    assert len(longest) <= DEDUP_KEY_MAX_CHARS
    assert longest.endswith("c" * 100)
    long_key = dedup_key("t" * 200, "c" * 200)
    other = dedup_key("t" * 200, "c" * 199 + "d")
    assert len(long_key) == DEDUP_KEY_MAX_CHARS
    assert long_key != other
    assert dedup_key("t" * 200, "c" * 200) == long_key
