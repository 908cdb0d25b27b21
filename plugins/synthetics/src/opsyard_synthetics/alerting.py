"""When a check alerts: a state machine per location, then a quorum decision across locations.

Per location, `step` folds each run's outcome into a `LocationState` with hysteresis:

- a location becomes `failing` after `failure_threshold` consecutive failing runs, and
  `degraded` after that many consecutive degraded-or-failing runs;
- `degraded` escalates to `failing` as soon as the consecutive failing runs reach the
  threshold (runs that failed while degraded count);
- `failing` does not step down to `degraded` on slow-but-working runs: it stays failing until
  the location recovers. A target that went from broken to slow is not healthy yet, and
  stepping down would downgrade the alert only to raise it again at the next failure;
- any non-ok status returns to `ok` only after `success_threshold` consecutive ok runs;
- an `error` run (the check could not run: our side) counts neither way and leaves the state
  untouched, streaks included, so our own trouble neither raises nor clears an alert.

Across locations, `decide` turns the states into one alert level for the check:

- only healthy locations count; an unhealthy one is left out of the quorum rather than
  blamed on the target;
- `page` when the check is critical and at least N of the M healthy locations are failing;
  `notify` when N locations are degraded or failing but fewer than N are failing, and when a
  non-critical check reaches its failing quorum (it never pages);
- a level that rises triggers (a notify escalated to a page triggers again under the same
  dedup key), a level that stays keeps, a level that drops to none resolves, and a level that
  drops from page to notify keeps the open alert without a new trigger;
- a maintenance window or a failing parent check turns a trigger into silence: the alert
  stays at its previous level, so it triggers at the first decision after the silence ends
  if the check is still failing. Resolving is never silenced: an open alert whose check
  recovered during a window is closed, because nobody should have to close it by hand;
- with fewer healthy locations than N, nothing can be decided: no trigger and no resolve,
  the alert stays as it was and the reason says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

LocationStatus = Literal["ok", "degraded", "failing"]
RunOutcome = Literal["ok", "degraded", "failing", "error"]
AlertLevel = Literal["none", "notify", "page"]
AlertAction = Literal["trigger", "resolve", "keep", "none"]
Silencer = Literal["maintenance", "dependency"]

DEDUP_KEY_MAX_CHARS = 255
_LEVEL_RANK: dict[str, int] = {"none": 0, "notify": 1, "page": 2}


@dataclass(frozen=True)
class LocationState:
    """Where one check stands at one location, with the streaks that move it.

    `failures` counts consecutive failing runs, `degradations` consecutive degraded-or-failing
    runs and `successes` consecutive ok runs; `since` is when `status` last changed.
    """

    status: LocationStatus
    failures: int
    successes: int
    since: datetime
    degradations: int = 0


def initial_state(*, at: datetime) -> LocationState:
    """The state of a location that has not run the check yet: ok, with no streaks."""
    return LocationState(status="ok", failures=0, successes=0, since=at, degradations=0)


def step(
    state: LocationState,
    outcome: RunOutcome,
    *,
    at: datetime,
    failure_threshold: int,
    success_threshold: int,
) -> LocationState:
    """Fold one run's outcome into a location's state (see the module docstring for the rules)."""
    if failure_threshold < 1 or success_threshold < 1:
        raise ValueError("failure_threshold and success_threshold must be at least 1")
    if outcome == "error":
        return state
    if outcome == "ok":
        successes = state.successes + 1
        status = state.status
        if status != "ok" and successes >= success_threshold:
            status = "ok"
        return _moved(state, status, at=at, failures=0, degradations=0, successes=successes)
    if outcome not in ("degraded", "failing"):
        raise ValueError(f"unknown run outcome: {outcome!r}")
    failures = state.failures + 1 if outcome == "failing" else 0
    degradations = state.degradations + 1
    status = state.status
    if failures >= failure_threshold:
        status = "failing"
    elif status == "ok" and degradations >= failure_threshold:
        status = "degraded"
    return _moved(state, status, at=at, failures=failures, degradations=degradations, successes=0)


def _moved(
    state: LocationState,
    status: LocationStatus,
    *,
    at: datetime,
    failures: int,
    degradations: int,
    successes: int,
) -> LocationState:
    # `since` only moves when the status does, so it says how long the location has been so.
    since = state.since if status == state.status else at
    return replace(
        state,
        status=status,
        since=since,
        failures=failures,
        degradations=degradations,
        successes=successes,
    )


@dataclass(frozen=True)
class Decision:
    """What to do about a check's alert after its latest runs, and why in words.

    `level` is the level of the alert once this decision is carried out: store it and pass it
    back as `previous` next time. `silenced_by` is set only when a trigger was held back.
    """

    level: AlertLevel
    action: AlertAction
    failing_locations: tuple[str, ...]
    degraded_locations: tuple[str, ...]
    considered: tuple[str, ...]
    reason: str
    silenced_by: Silencer | None = None


def decide(
    states: Mapping[str, LocationState],
    *,
    healthy: Collection[str],
    quorum_failing: int,
    quorum_of: int | None,
    critical: bool,
    in_maintenance: bool,
    parent_failing: bool,
    previous: AlertLevel,
) -> Decision:
    """Decide a check's alert level and action from its locations' states and its quorum."""
    if quorum_failing < 1:
        raise ValueError("quorum_failing must be at least 1")
    if quorum_of is not None and quorum_of < quorum_failing:
        raise ValueError("quorum_of must not be less than quorum_failing")
    healthy_names = set(healthy)
    considered = tuple(sorted(name for name in states if name in healthy_names))
    left_out = tuple(sorted(name for name in states if name not in healthy_names))
    failing = tuple(name for name in considered if states[name].status == "failing")
    degraded = tuple(name for name in considered if states[name].status == "degraded")
    of = quorum_of if quorum_of is not None else len(considered)
    excluded = f"; left out as unhealthy: {', '.join(left_out)}" if left_out else ""

    def decision(
        level: AlertLevel, action: AlertAction, reason: str, silenced_by: Silencer | None = None
    ) -> Decision:
        return Decision(
            level=level,
            action=action,
            failing_locations=failing,
            degraded_locations=degraded,
            considered=considered,
            reason=reason + excluded,
            silenced_by=silenced_by,
        )

    if len(considered) < quorum_failing:
        # Too little evidence either way: raising an alert would blame the target for our
        # locations' trouble, and resolving one would hide an outage we can no longer see.
        have = _count(len(considered), "healthy location")
        return decision(
            previous,
            "keep" if previous != "none" else "none",
            f"only {have}, fewer than the {quorum_failing} the quorum needs; "
            "the alert is left as it was",
        )

    bad = len(failing) + len(degraded)
    if len(failing) >= quorum_failing:
        level: AlertLevel = "page" if critical else "notify"
        reason = f"{len(failing)} of {of} locations failing ({', '.join(failing)})"
        if not critical:
            reason += "; the check is not critical, so it notifies instead of paging"
    elif bad >= quorum_failing:
        level = "notify"
        reason = (
            f"{bad} of {of} locations degraded or failing "
            f"({', '.join(sorted(failing + degraded))}), {len(failing)} failing"
        )
    else:
        level = "none"
        reason = f"{len(failing)} failing and {len(degraded)} degraded of {of} locations"
    reason += f"; quorum is {quorum_failing} of {of}"

    if level == "none":
        action: AlertAction = "resolve" if previous != "none" else "none"
        return decision("none", action, reason)
    if _LEVEL_RANK[level] > _LEVEL_RANK[previous]:
        silencer: Silencer | None = (
            "maintenance" if in_maintenance else "dependency" if parent_failing else None
        )
        if silencer is not None:
            why = "a maintenance window" if silencer == "maintenance" else "a failing parent check"
            return decision(
                previous,
                "keep" if previous != "none" else "none",
                f"{reason}; silenced by {why}",
                silenced_by=silencer,
            )
        return decision(level, "trigger", reason)
    # Same level, or a page that eased to a notification: the open alert stays open.
    return decision(level, "keep", reason)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def dedup_key(team_slug: str, check_name: str) -> str:
    """The stable key a check's alert is triggered and resolved under (at most 255 chars)."""
    key = f"synthetics/{team_slug}/{check_name}"
    if len(key) <= DEDUP_KEY_MAX_CHARS:
        return key
    # Team slugs and check names are bounded well below this, but a key that a pager refuses
    # would lose the alert: keep a readable prefix and a digest of the whole key.
    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return f"{key[: DEDUP_KEY_MAX_CHARS - len(digest) - 1]}~{digest}"
