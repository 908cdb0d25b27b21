"""Claiming a location's Schedule rows, so that each slot of a check runs at one worker only.

A claim writes a token and a lease on the rows it takes. Rows are claimed up to a horizon:
the run job claims a little more than the next tick's worth ahead, so the location's runner
can start each check at its own slot instead of whenever the next poll comes round. Each
claimed row's lease then runs until the claim's last slot plus the longest its check may
take, plus a margin: a worker that died leaves its rows to be claimed again soon after, and a
live one is never overtaken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from opsyard.db.claims import claim_rows
from opsyard.teams.models import TeamPlugin
from opsyard_synthetics import service, slots
from opsyard_synthetics.definitions import CheckDefinition, OAuth2ClientCredentials
from opsyard_synthetics.models import Check, Schedule

PLUGIN = "synthetics"
# A claimed row stays claimed this long past its slot and its check's longest run, so the
# runner has time to store the run before anyone may take the row over.
LEASE_MARGIN = timedelta(seconds=60)
# Time a run may take beyond the timeouts its check declares: name resolution before the
# first connection, redirects, assertions.
RUN_SLACK_SECONDS = 2.0
# However many steps a flow has, one run is given up after this long.
LONGEST_RUN_SECONDS = 600.0


@dataclass(frozen=True)
class DueRun:
    """One claimed (check, location) with the slot it is to run for."""

    schedule_id: int
    check_id: int
    slot_at: datetime
    missed: int
    definition: CheckDefinition | None
    problem: str | None
    secrets: dict[str, str]
    budget_seconds: float
    token: str


def run_budget_seconds(definition: CheckDefinition | None) -> float:
    """The longest one run of `definition` may take: the sum of its steps' timeouts (twice
    for a step that first exchanges OAuth credentials), plus a little slack."""
    if definition is None:
        return RUN_SLACK_SECONDS
    total = 0.0
    for step in definition.steps:
        exchanges = isinstance(step.auth, OAuth2ClientCredentials)
        total += step.timeout_s * (2 if exchanges else 1)
    for target in (definition.tcp, definition.dns, definition.tls):
        if target is not None:
            total += target.timeout_s
    return min(total + RUN_SLACK_SECONDS, LONGEST_RUN_SECONDS)


def claim(
    session: Session, *, location: str, until: datetime, at: datetime, token: str, limit: int
) -> list[int]:
    """Claim up to `limit` of the location's free rows whose next slot is at or before
    `until`, earliest first; commits. `at` is the claimer's now: a lease that ended before it
    is free. PostgreSQL skips rows another worker is claiming; SQLite serialises writers,
    and the repeated conditions make a row claimed in between drop out."""
    free = or_(Schedule.claimed_until.is_(None), Schedule.claimed_until <= at)
    return claim_rows(
        session,
        Schedule,
        where=[Schedule.location == location, Schedule.next_slot_at <= until, free],
        order_by=[Schedule.next_slot_at, Schedule.id],
        # Long enough for prepare() to set each row's own lease.
        values={"claimed_until": until + LEASE_MARGIN, "claimed_by": token},
        limit=limit,
    )


def prepare(session: Session, claimed: Sequence[int], *, at: datetime, token: str) -> list[DueRun]:
    """What to run for the claimed rows, each for its latest slot due at `at` or, when its
        next slot is still ahead, for that slot. Rows of disabled checks or of teams that switched
        the plugin off move on to their next slot without a run. Each row is leased until the
    latest of these slots plus its check's run budget and a margin. Flushes."""
    rows = session.execute(
        select(Schedule, Check, TeamPlugin.team_id)
        .join(Check, Check.id == Schedule.check_id)
        .outerjoin(
            TeamPlugin, and_(TeamPlugin.team_id == Check.team_id, TeamPlugin.plugin == PLUGIN)
        )
        .where(Schedule.id.in_(claimed))
        .order_by(Schedule.next_slot_at, Schedule.id)
    ).all()
    secrets: dict[int, dict[str, str]] = {}
    due: list[DueRun] = []
    by_budget: dict[float, list[int]] = {}
    for schedule, check, plugin_on in rows:
        interval, offset = check.interval_seconds, check.offset_seconds
        missed = slots.missed_slots(
            schedule.next_slot_at - timedelta(seconds=interval),
            max(at, schedule.next_slot_at),
            interval=interval,
            offset=offset,
        )
        if not check.enabled or plugin_on is None or missed.latest is None:
            schedule.next_slot_at = slots.next_slot_after(at, interval=interval, offset=offset)
            schedule.claimed_by = schedule.claimed_until = None
            continue
        if check.team_id not in secrets:
            secrets[check.team_id] = service.secrets_for(session, team_id=check.team_id)
        definition, problem = _definition(check)
        budget = run_budget_seconds(definition)
        by_budget.setdefault(budget, []).append(schedule.id)
        due.append(
            DueRun(
                schedule_id=schedule.id,
                check_id=check.id,
                slot_at=missed.latest,
                missed=missed.count,
                definition=definition,
                problem=problem,
                secrets=secrets[check.team_id],
                budget_seconds=budget,
                token=token,
            )
        )
    session.flush()
    latest = max((item.slot_at for item in due), default=at)
    for budget, ids in by_budget.items():
        # One lease per budget, not per row: most checks share their timeouts, so this is a
        # statement or two for thousands of rows.
        session.execute(
            update(Schedule)
            .where(Schedule.id.in_(ids), Schedule.claimed_by == token)
            .values(claimed_until=max(latest, at) + timedelta(seconds=budget) + LEASE_MARGIN)
            .execution_options(synchronize_session=False)
        )
    return due


def _definition(check: Check) -> tuple[CheckDefinition | None, str | None]:
    try:
        return CheckDefinition.model_validate(check.definition), None
    except ValidationError as exc:
        # Only a stored definition from an older release could get here; say so on the run
        # instead of blocking the location's other checks.
        return None, f"error: the stored check is not valid: {exc.errors()[0]['msg']}"
