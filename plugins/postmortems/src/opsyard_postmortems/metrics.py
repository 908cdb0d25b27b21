"""Follow-through: how well a team gets its post-mortem action items done, per sprint.

For a period (one sprint, or all time when no sprint is given):

- ``items``: the items created within the period;
- ``due``: the items whose deadline falls in the period and has passed, or that are done;
- ``done_on_time``: of those, the ones done on or before their deadline (UTC day);
- ``on_time_rate``: ``done_on_time / due`` (None when nothing is due);
- ``overdue``: open items whose deadline (in the period) has passed;
- ``median_open_age_days``: the median age of the period's items still open;
- ``deprioritized_share``: deprioritized items among the period's items;
- ``escalations``: escalation steps taken within the period.

Everything is counted by the database: a team can have thousands of items, and only the
open items' creation times around the median are ever read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from opsyard.calendars.service import calendar_for
from opsyard.calendars.sprints import Sprint
from opsyard.teams.models import Team
from opsyard_postmortems.ladder import start_of
from opsyard_postmortems.models import DEPRIORITIZED, DONE, OPEN, ActionItem, ItemHistory

ESCALATED_KIND = "escalated"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FollowThrough:
    """A team's follow-through over one sprint (`sprint` None: all time)."""

    sprint: Sprint | None
    items: int
    due: int
    done_on_time: int
    on_time_rate: float | None
    overdue: int
    median_open_age_days: float | None
    deprioritized_share: float | None
    escalations: int


class utc_date(FunctionElement[date]):
    """The UTC calendar day of a stored timestamp, in SQL."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


@compiles(utc_date)
def _utc_date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps timestamps as UTC text; date() takes its day.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    # Without AT TIME ZONE the cast would use the connection's time zone.
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


def follow_through(
    session: Session, *, team: Team, now: datetime, sprint: Sprint | None = None
) -> FollowThrough:
    """The team's follow-through figures for `sprint`, or for all time when it is None."""
    today = now.date()
    created_in = _created_within(sprint)
    deadline_in = _deadline_within(sprint)
    due = and_(deadline_in, or_(ActionItem.deadline < today, ActionItem.status == DONE))
    on_time = and_(
        due, ActionItem.status == DONE, utc_date(ActionItem.done_at) <= ActionItem.deadline
    )
    overdue = and_(deadline_in, ActionItem.status == OPEN, ActionItem.deadline < today)
    deprioritized = and_(created_in, ActionItem.status == DEPRIORITIZED)
    row = session.execute(
        select(
            _count_where(created_in),
            _count_where(due),
            _count_where(on_time),
            _count_where(overdue),
            _count_where(deprioritized),
        ).where(ActionItem.team_id == team.id, or_(created_in, deadline_in))
    ).one()
    items, due_count, on_time_count, overdue_count, deprioritized_count = (int(v) for v in row)
    return FollowThrough(
        sprint=sprint,
        items=items,
        due=due_count,
        done_on_time=on_time_count,
        on_time_rate=on_time_count / due_count if due_count else None,
        overdue=overdue_count,
        median_open_age_days=_median_open_age_days(session, team=team, now=now, sprint=sprint),
        deprioritized_share=deprioritized_count / items if items else None,
        escalations=_escalations(session, team=team, sprint=sprint),
    )


def by_sprint(
    session: Session, *, team: Team, now: datetime, count: int = 6
) -> list[FollowThrough]:
    """The figures of the current sprint and the `count - 1` before it, oldest first."""
    calendar = calendar_for(session, team=team)
    current = calendar.sprint_on(now.date()).number
    sprints = [calendar.sprint_number(current - back) for back in reversed(range(count))]
    return [follow_through(session, team=team, now=now, sprint=sprint) for sprint in sprints]


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _bounds(sprint: Sprint) -> tuple[datetime, datetime]:
    """The sprint as instants: from the start of its first day to the start of the next."""
    return start_of(sprint.starts_on), start_of(sprint.ends_on + timedelta(days=1))


def _created_within(sprint: Sprint | None) -> ColumnElement[bool]:
    if sprint is None:
        return true()
    starts, ends = _bounds(sprint)
    return and_(ActionItem.created_at >= starts, ActionItem.created_at < ends)


def _deadline_within(sprint: Sprint | None) -> ColumnElement[bool]:
    if sprint is None:
        return true()
    return ActionItem.deadline.between(sprint.starts_on, sprint.ends_on)


def _median_open_age_days(
    session: Session, *, team: Team, now: datetime, sprint: Sprint | None
) -> float | None:
    """The median age of the open items: now minus the median creation time, so only the
    one or two middle rows are read, in creation order."""
    where = (ActionItem.team_id == team.id, ActionItem.status == OPEN, _created_within(sprint))
    open_count = session.scalar(select(func.count()).select_from(ActionItem).where(*where)) or 0
    if open_count == 0:
        return None
    middle = session.scalars(
        select(ActionItem.created_at)
        .where(*where)
        .order_by(ActionItem.created_at, ActionItem.id)
        .offset((open_count - 1) // 2)
        .limit(1 if open_count % 2 else 2)
    ).all()
    ages = [(now - created).total_seconds() / SECONDS_PER_DAY for created in middle]
    return sum(ages) / len(ages)


def _escalations(session: Session, *, team: Team, sprint: Sprint | None) -> int:
    query = (
        select(func.count())
        .select_from(ItemHistory)
        .where(ItemHistory.team_id == team.id, ItemHistory.kind == ESCALATED_KIND)
    )
    if sprint is not None:
        starts, ends = _bounds(sprint)
        query = query.where(ItemHistory.at >= starts, ItemHistory.at < ends)
    return session.scalar(query) or 0
