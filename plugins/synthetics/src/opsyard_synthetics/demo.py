"""Demo data: checks of the portal's own endpoints, with a few hours of results.

The checks are applied as a checks file through the service, as a team would; they probe
the demo portal itself (``/livez``, ``/readyz`` and ``/login`` under the base URL), and
``/readyz`` has a degraded threshold tighter than it can meet, so one check shows degraded.
The portal is not serving yet while demo data loads, so the past hours' results are made
here from plausible timings; each is judged by the same assertion engine and thresholds as
a real run, stored the way the run job stores one and folded into alerting by its own code,
then rolled up. Once the portal serves, the run job adds real runs at each check's slots.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.teams.models import Team
from opsyard_synthetics import alerting_service, locations, recording, rollups, service, slots
from opsyard_synthetics.checks_file import dump_checks
from opsyard_synthetics.definitions import CheckDefinition, ChecksFile
from opsyard_synthetics.expressions import AssertionResult, compile_expression, parse_json_body
from opsyard_synthetics.models import Check, Run, Schedule
from opsyard_synthetics.probes.timings import PhaseTimings
from opsyard_synthetics.runner import Outcome, RunResult, StepResult

HISTORY = timedelta(hours=3)
INTERVAL_SECONDS = 300
# (name, path, typical ms, degraded ms, failing ms, critical, assertions, body excerpt)
PORTAL_CHECKS = (
    ("portal-livez", "/livez", 4.0, 250.0, 1000.0, True, ["status == 200"], '{"status":"ok"}'),
    (
        "portal-readyz",
        "/readyz",
        14.0,
        # Tighter than the readiness probe can answer (it asks the database): degraded.
        2.0,
        1000.0,
        False,
        ["status == 200", 'json("$.status") == "ready"'],
        '{"status":"ready","checks":{"database":{"ok":true},"migrations":{"ok":true}}}',
    ),
    (
        "portal-login",
        "/login",
        22.0,
        400.0,
        2000.0,
        False,
        ["status == 200", 'body contains "Log in"'],
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in · opsyard',
    ),
)
# One run of the login check answered 503, to show what a failed assertion looks like.
BLIP_CHECK = "portal-login"
BLIP_BODY = "<html><body>Service unavailable</body></html>"


def checks_file(base_url: str) -> str:
    """The demo checks as a checks file, pointing at the portal at `base_url`."""
    base = base_url.rstrip("/")
    checks = [
        CheckDefinition.model_validate(
            {
                "name": name,
                "kind": "http",
                "interval_seconds": INTERVAL_SECONDS,
                "critical": critical,
                "thresholds": {"degraded_ms": degraded, "failing_ms": failing},
                "steps": [{"url": base + path, "timeout_s": 5, "assertions": assertions}],
                **({"depends_on": "portal-livez"} if name != "portal-livez" else {}),
            }
        )
        for name, path, _, degraded, failing, critical, assertions, _ in PORTAL_CHECKS
    ]
    return dump_checks(ChecksFile(checks=checks))


def load(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    users: dict[str, User],
    now: datetime | None = None,
) -> None:
    """Add the portal checks to `team` with their recent history, its public status page on."""
    now = now or utcnow()
    start = now - HISTORY
    service.apply_checks(
        session,
        portal=portal,
        team=team,
        text=checks_file(portal.settings.base_url),
        actor=users["owner"],
        dry_run=False,
        now=start,
    )
    rules = service.settings_for(session, team=team)
    service.update_settings(
        session,
        team=team,
        actor=users["owner"],
        public_status_page=True,
        failure_threshold=rules.failure_threshold,
        success_threshold=rules.success_threshold,
        retention_days=rules.retention_days,
    )
    service.add_maintenance(
        session,
        team=team,
        starts_at=(now + timedelta(days=2)).replace(hour=22, minute=0, second=0, microsecond=0),
        ends_at=(now + timedelta(days=2)).replace(hour=23, minute=30, second=0, microsecond=0),
        actor=users["member"],
        check_name=None,
        reason="Database upgrade: the portal restarts twice.",
    )
    where = locations.known(session, settings=portal.settings)
    for name, path, typical, degraded, failing, _, assertions, excerpt in PORTAL_CHECKS:
        check = service.get_check(session, team=team, name=name)
        url = portal.settings.base_url.rstrip("/") + path
        # Seeded by name: the demo looks the same every time it is loaded.
        noise = random.Random(name)  # noqa: S311  (timings for show, not secrets)
        slot = slots.next_slot_after(
            start, interval=check.interval_seconds, offset=check.offset_seconds
        )
        blip_at = slot + (now - slot) / 2
        while slot <= now:
            for location in where:
                blip = name == BLIP_CHECK and abs(slot - blip_at) < timedelta(seconds=150)
                result = _result(
                    check,
                    location=location,
                    url=url,
                    # The runner starts a check within a few milliseconds of its slot.
                    started_at=slot + timedelta(milliseconds=noise.uniform(0.2, 6)),
                    total_ms=typical * noise.uniform(0.7, 1.6),
                    thresholds=(degraded, failing),
                    assertions=assertions,
                    status=503 if blip else 200,
                    excerpt=BLIP_BODY if blip else excerpt,
                )
                _store(session, portal=portal, check=check, slot=slot, result=result)
            slot += timedelta(seconds=check.interval_seconds)
        # The history covers the slots up to now: the run job carries on from the next one,
        # rather than counting the made-up hours as missed.
        session.execute(
            update(Schedule)
            .where(Schedule.check_id == check.id)
            .values(
                next_slot_at=slot, last_slot_at=slot - timedelta(seconds=check.interval_seconds)
            )
        )
    rollups.roll_up(session, now=now)
    session.flush()


def _result(
    check: Check,
    *,
    location: str,
    url: str,
    started_at: datetime,
    total_ms: float,
    thresholds: tuple[float, float],
    assertions: list[str],
    status: int,
    excerpt: str,
) -> RunResult:
    """One run's result as the runner reports it: the assertions evaluated by the engine on
    the response's facts, then the latency thresholds, as `run_check` applies them."""
    facts = {
        "status": status,
        "response_time_ms": total_ms,
        "headers": {"content-type": "text/html" if "<" in excerpt else "application/json"},
        "body": excerpt,
        "json": parse_json_body(excerpt),
        "vars": {},
    }
    results: list[AssertionResult] = []
    for text in assertions:
        results.extend(compile_expression(text).evaluate(facts))
    failed = next((r for r in results if not r.passed and not r.part), None)
    degraded_ms, failing_ms = thresholds
    outcome: Outcome
    if failed is not None:
        outcome, reason = "failing", f"assertion failed: {failed.expression}: {failed.message}"
    elif total_ms > failing_ms:
        outcome, reason = "failing", f"response_time_ms {total_ms:.0f} > failing {failing_ms:g}"
    elif total_ms > degraded_ms:
        outcome, reason = "degraded", f"response_time_ms {total_ms:.0f} > degraded {degraded_ms:g}"
    else:
        outcome, reason = "ok", ""
    connect = min(0.4, total_ms * 0.1)
    timings = PhaseTimings(connect_ms=connect, first_byte_ms=total_ms * 0.8, total_ms=total_ms)
    step = StepResult(
        name="request",
        outcome=outcome,
        reason=reason or None,
        timings=timings,
        assertions=results,
        status=status,
        url=url,
        excerpt=excerpt,
    )
    return RunResult(
        check=check.name,
        location=location,
        outcome=outcome,
        reason=reason or None,
        steps=[step],
        started_at=started_at,
        duration_ms=total_ms,
    )


def _store(
    session: Session, *, portal: PortalContext, check: Check, slot: datetime, result: RunResult
) -> None:
    """Store the run as the run job does, and fold it into alerting in the same transaction."""
    session.add(
        Run(
            check_id=check.id,
            team_id=check.team_id,
            location=result.location,
            slot_at=slot,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            lag_ms=slots.lag_ms(slot, result.started_at),
            missed_slots=0,
            outcome=result.outcome,
            reason=result.reason or "",
            steps=recording.stored_steps(result),
        )
    )
    session.flush()
    alerting_service.record_run(
        session,
        portal=portal,
        check=check,
        location=result.location,
        outcome=result.outcome,
        at=result.started_at,
    )
