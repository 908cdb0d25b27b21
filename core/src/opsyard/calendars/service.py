"""Reading and setting a team's sprint calendar.

Every team has one: until an owner sets it, sprints are two weeks long starting on Mondays
(anchored on Monday 5 January 2026), the most common cadence, so practices that count in
sprints work from the day a team is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.calendars.errors import INVALID_CALENDAR
from opsyard.calendars.models import TeamCalendar, TeamSprint
from opsyard.calendars.sprints import CadenceCalendar, Calendar, ExplicitCalendar, ListedSprint
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams.models import Team

DEFAULT_LENGTH_DAYS = 14
DEFAULT_ANCHOR = date(2026, 1, 5)
MAX_LENGTH_DAYS = 90
MAX_LISTED_SPRINTS = 200
CADENCE: Literal["cadence"] = "cadence"
EXPLICIT: Literal["explicit"] = "explicit"

DEFAULT_CALENDAR = CadenceCalendar(DEFAULT_LENGTH_DAYS, DEFAULT_ANCHOR)


def calendar_for(session: Session, *, team: Team) -> Calendar:
    """The team's calendar, or the default two-week cadence when it has set none."""
    row = session.get(TeamCalendar, team.id)
    if row is None:
        return DEFAULT_CALENDAR
    if row.mode == EXPLICIT:
        listed = listed_sprints(session, team=team)
        if listed:
            return ExplicitCalendar(listed)
    return CadenceCalendar(row.length_days, row.anchor_on)


def listed_sprints(session: Session, *, team: Team) -> list[ListedSprint]:
    """The sprints of the team's explicit calendar, in order (empty for a cadence)."""
    rows = session.scalars(
        select(TeamSprint).where(TeamSprint.team_id == team.id).order_by(TeamSprint.starts_on)
    )
    return [ListedSprint(row.name, row.starts_on, row.ends_on) for row in rows]


def _upsert(
    session: Session, *, team: Team, mode: str, length: int, anchor: date, actor: User | None
) -> None:
    row = session.get(TeamCalendar, team.id)
    if row is None:
        row = TeamCalendar(team_id=team.id)
        session.add(row)
    row.mode, row.length_days, row.anchor_on = mode, length, anchor
    row.updated_at, row.updated_by_id = utcnow(), actor.id if actor else None


def set_cadence(
    session: Session, *, team: Team, length_days: int, anchor_on: date, actor: User | None
) -> Calendar:
    """Make the team's sprints `length_days` long, one of them starting on `anchor_on`."""
    if not 1 <= length_days <= MAX_LENGTH_DAYS:
        raise OpsyardError(
            INVALID_CALENDAR,
            f"A sprint lasts 1 to {MAX_LENGTH_DAYS} days, not {length_days}.",
            fields=[
                FieldProblem(
                    "/length_days", f"Give a whole number of days from 1 to {MAX_LENGTH_DAYS}."
                )
            ],
        )
    _upsert(session, team=team, mode=CADENCE, length=length_days, anchor=anchor_on, actor=actor)
    session.execute(delete(TeamSprint).where(TeamSprint.team_id == team.id))
    _audit(session, team=team, actor=actor, detail=f"{length_days}-day sprints from {anchor_on}")
    session.flush()
    return calendar_for(session, team=team)


def _check_listed(sprints: Sequence[ListedSprint]) -> None:
    problems: list[FieldProblem] = []
    if not sprints:
        problems.append(FieldProblem("/sprints", "List at least one sprint."))
    if len(sprints) > MAX_LISTED_SPRINTS:
        problems.append(FieldProblem("/sprints", f"List at most {MAX_LISTED_SPRINTS} sprints."))
    for index, sprint in enumerate(sprints):
        if not sprint.name.strip():
            problems.append(FieldProblem(f"/sprints/{index}/name", "Give the sprint a name."))
        if sprint.ends_on < sprint.starts_on:
            problems.append(
                FieldProblem(f"/sprints/{index}/ends_on", "A sprint ends on or after its start.")
            )
        elif (sprint.ends_on - sprint.starts_on).days + 1 > MAX_LENGTH_DAYS:
            problems.append(
                FieldProblem(
                    f"/sprints/{index}/ends_on", f"A sprint lasts at most {MAX_LENGTH_DAYS} days."
                )
            )
    ordered = sorted(enumerate(sprints), key=lambda pair: pair[1].starts_on)
    for (_, before), (index, after) in pairwise(ordered):
        if after.starts_on <= before.ends_on:
            problems.append(
                FieldProblem(
                    f"/sprints/{index}/starts_on",
                    f"Starts on {after.starts_on}, before {before.name!r} ends"
                    f" on {before.ends_on}.",
                )
            )
    if problems:
        raise OpsyardError(INVALID_CALENDAR, problems[0].detail, fields=problems)


def set_sprints(
    session: Session, *, team: Team, sprints: Sequence[ListedSprint], actor: User | None
) -> Calendar:
    """Replace the team's calendar with an explicit list of sprints."""
    _check_listed(sprints)
    ordered = sorted(sprints, key=lambda sprint: sprint.starts_on)
    first = ordered[0]
    _upsert(
        session,
        team=team,
        mode=EXPLICIT,
        length=first.ends_on.toordinal() - first.starts_on.toordinal() + 1,
        anchor=first.starts_on,
        actor=actor,
    )
    session.execute(delete(TeamSprint).where(TeamSprint.team_id == team.id))
    session.add_all(
        TeamSprint(team_id=team.id, name=s.name.strip(), starts_on=s.starts_on, ends_on=s.ends_on)
        for s in ordered
    )
    _audit(session, team=team, actor=actor, detail=f"{len(ordered)} listed sprints")
    session.flush()
    return calendar_for(session, team=team)


def _audit(session: Session, *, team: Team, actor: User | None, detail: str) -> None:
    audit.record(session, actor=actor, action="calendar.update", target=detail, team_id=team.id)


@dataclass(frozen=True)
class CalendarView:
    """How a team's calendar is set: for showing and editing it."""

    mode: Literal["cadence", "explicit"]
    length_days: int | None
    anchor_on: date | None
    is_default: bool
    listed: list[ListedSprint]


def describe(session: Session, *, team: Team) -> CalendarView:
    """The team's calendar settings (the default cadence when it has set none)."""
    row = session.get(TeamCalendar, team.id)
    if row is None:
        return CalendarView(CADENCE, DEFAULT_LENGTH_DAYS, DEFAULT_ANCHOR, True, [])
    if row.mode == EXPLICIT:
        return CalendarView(EXPLICIT, None, None, False, listed_sprints(session, team=team))
    return CalendarView(CADENCE, row.length_days, row.anchor_on, False, [])


def parse_day(text: str, pointer: str, what: str) -> date:
    """`text` as a YYYY-MM-DD date; `what` names it in the error."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise OpsyardError(
            INVALID_CALENDAR,
            f"{what} {text.strip()!r} is not a date.",
            fields=[FieldProblem(pointer, f"Write {what.lower()} as YYYY-MM-DD.")],
        ) from None


def parse_sprint_lines(text: str) -> list[ListedSprint]:
    """Sprints from lines of ``name, first day, last day``; blank lines are skipped."""
    sprints: list[ListedSprint] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.rsplit(",", 2)]
        if len(parts) != 3:
            raise OpsyardError(
                INVALID_CALENDAR,
                f"Line {number} is not 'name, first day, last day'.",
                fields=[
                    FieldProblem(
                        "/sprints", f"Line {number}: write 'Sprint 12, 2026-03-02, 2026-03-13'."
                    )
                ],
            )
        name, first, last = parts
        sprints.append(
            ListedSprint(
                name,
                parse_day(first, "/sprints", f"Line {number}: the first day"),
                parse_day(last, "/sprints", f"Line {number}: the last day"),
            )
        )
    return sprints
