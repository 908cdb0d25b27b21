"""Follow-through figures for a small data set worked out by hand.

The team uses the default calendar: two-week sprints from Monday 5 January 2026, so
sprint 1 is 5 to 18 January, sprint 2 is 19 January to 1 February, sprint 3 is 2 to 15 February.
"Now" is 10 February 2026, noon UTC, in sprint 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from opsyard.calendars.service import calendar_for
from opsyard.db.engine import session_scope
from opsyard.teams.models import Team
from opsyard_postmortems import metrics
from opsyard_postmortems.models import (
    DEPRIORITIZED,
    DONE,
    OPEN,
    ActionItem,
    ItemHistory,
    PostMortem,
)
from tests.conftest import World

NOW = datetime(2026, 2, 10, 12, tzinfo=UTC)


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    created: datetime
    deadline: date
    status: str = OPEN
    done: datetime | None = None


# Named A to I in the comments below.
ALPHA_ITEMS = {
    # Sprint 1.
    "A": Row(at(1, 6), date(2026, 1, 16), DONE, at(1, 15, 10)),  # on time
    "B": Row(at(1, 7), date(2026, 1, 18), DONE, at(1, 19, 0, 30)),  # half an hour late
    "C": Row(at(1, 8), date(2026, 1, 30)),  # open, deadline in sprint 2: overdue
    "D": Row(at(1, 9), date(2026, 1, 17), DEPRIORITIZED),
    # Sprint 2.
    "E": Row(at(1, 20), date(2026, 2, 12)),  # open, not due yet
    "F": Row(at(1, 21), date(2026, 2, 14), DONE, at(2, 3)),  # done early: due and on time
    "G": Row(at(1, 22), date(2026, 2, 1), DONE, at(2, 1, 23, 30)),  # on its last day
    "I": Row(at(1, 25, 0), date(2026, 2, 13)),  # open, not due yet
    # Sprint 3.
    "H": Row(at(2, 3), date(2026, 2, 9)),  # open, deadline yesterday: overdue
}


def _item(session: Session, postmortem: PostMortem, title: str, row: Row) -> ActionItem:
    item = ActionItem(
        postmortem_id=postmortem.id,
        team_id=postmortem.team_id,
        title=title,
        owner_id=postmortem.created_by_id,
        deadline=row.deadline,
        created_sprint="Sprint",
        escalate_after=row.deadline,
        status=row.status,
        created_at=row.created,
        done_at=row.done,
    )
    session.add(item)
    session.flush()
    return item


def _postmortem(session: Session, team: Team, owner_id: int) -> PostMortem:
    postmortem = PostMortem(
        team_id=team.id,
        number=1,
        title="Checkout outage",
        severity="sev2",
        incident_started_at=at(1, 5),
        created_by_id=owner_id,
    )
    session.add(postmortem)
    session.flush()
    return postmortem


def _history(session: Session, item: ActionItem, kind: str, when: datetime) -> None:
    session.add(ItemHistory(item_id=item.id, team_id=item.team_id, kind=kind, at=when))


@pytest.fixture
def data(pm_world: World) -> World:
    with session_scope(pm_world.ctx.sessions) as session:
        alpha = session.merge(pm_world.teams["alpha"])
        beta = session.merge(pm_world.teams["beta"])
        mortem = _postmortem(session, alpha, pm_world.people["bob"].id)
        made = {name: _item(session, mortem, name, row) for name, row in ALPHA_ITEMS.items()}
        _history(session, made["C"], "overdue", at(1, 31, 0))
        _history(session, made["C"], "escalated", at(1, 31, 1))
        _history(session, made["H"], "escalated", at(2, 10, 8))
        # Beta's item and escalation count for beta only.
        other = _postmortem(session, beta, pm_world.people["carol"].id)
        late = _item(session, other, "beta's", Row(at(2, 3), date(2026, 2, 5)))
        _history(session, late, "escalated", at(2, 6))
    return pm_world


def figures(world: World, sprint_number: int | None) -> metrics.FollowThrough:
    with session_scope(world.ctx.sessions) as session:
        team = session.merge(world.teams["alpha"])
        sprint = None
        if sprint_number is not None:
            sprint = calendar_for(session, team=team).sprint_number(sprint_number)
        return metrics.follow_through(session, team=team, now=NOW, sprint=sprint)


def test_sprint_1(data: World) -> None:
    result = figures(data, 1)
    assert result.sprint is not None and result.sprint.starts_on == date(2026, 1, 5)
    assert result.items == 4  # A B C D
    assert result.due == 3  # A B D: deadlines in sprint 1, all passed
    assert result.done_on_time == 1  # A; B was done on the 19th
    assert result.on_time_rate == pytest.approx(1 / 3)
    assert result.overdue == 0  # C is due in sprint 2
    assert result.median_open_age_days == pytest.approx(33.0)  # C, 8 Jan noon to 10 Feb noon
    assert result.deprioritized_share == pytest.approx(0.25)  # D
    assert result.escalations == 0


def test_sprint_2(data: World) -> None:
    result = figures(data, 2)
    assert result.items == 4  # E F G I
    assert result.due == 2  # C (passed), G (done)
    assert result.done_on_time == 1  # G, done on its last day
    assert result.on_time_rate == pytest.approx(0.5)
    assert result.overdue == 1  # C
    # E is 21 days old, I 16.5: the median of two is their mean.
    assert result.median_open_age_days == pytest.approx(18.75)
    assert result.deprioritized_share == 0.0
    assert result.escalations == 1  # C on 31 January; its overdue step is not an escalation


def test_sprint_3(data: World) -> None:
    result = figures(data, 3)
    assert result.items == 1  # H; beta's item is beta's
    assert result.due == 2  # F (done early), H (passed); E's deadline is still ahead
    assert result.done_on_time == 1  # F
    assert result.on_time_rate == pytest.approx(0.5)
    assert result.overdue == 1  # H
    assert result.median_open_age_days == pytest.approx(7.0)
    assert result.deprioritized_share == 0.0
    assert result.escalations == 1  # H this morning


def test_all_time(data: World) -> None:
    result = figures(data, None)
    assert result.sprint is None
    assert result.items == 9
    assert result.due == 7  # all but E and I
    assert result.done_on_time == 3  # A F G
    assert result.on_time_rate == pytest.approx(3 / 7)
    assert result.overdue == 2  # C H
    # Open: C 33, E 21, I 16.5, H 7 days old.
    assert result.median_open_age_days == pytest.approx(18.75)
    assert result.deprioritized_share == pytest.approx(1 / 9)
    assert result.escalations == 2


def test_by_sprint_runs_oldest_first_up_to_the_current_sprint(data: World) -> None:
    with session_scope(data.ctx.sessions) as session:
        team = session.merge(data.teams["alpha"])
        rows = metrics.by_sprint(session, team=team, now=NOW, count=4)
    assert [row.sprint.number if row.sprint else None for row in rows] == [0, 1, 2, 3]
    assert [row.items for row in rows] == [0, 4, 4, 1]
    assert [row.overdue for row in rows] == [0, 0, 1, 1]
    empty = rows[0]
    assert empty.sprint is not None and empty.sprint.ends_on == date(2026, 1, 4)
    assert (empty.on_time_rate, empty.median_open_age_days, empty.deprioritized_share) == (
        None,
        None,
        None,
    )


def test_a_team_without_items_has_no_rates(pm_world: World) -> None:
    with session_scope(pm_world.ctx.sessions) as session:
        team = session.merge(pm_world.teams["beta"])
        result = metrics.follow_through(session, team=team, now=NOW)
    assert (result.items, result.due, result.overdue, result.escalations) == (0, 0, 0, 0)
    assert result.on_time_rate is None
    assert result.median_open_age_days is None
    assert result.deprioritized_share is None
