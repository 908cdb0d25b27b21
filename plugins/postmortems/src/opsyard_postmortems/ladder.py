"""The escalation ladder of an open action item: which step is next, and when.

Steps happen at the start of a UTC day:

- ``remind``: `reminder_days` before the deadline, to the owner. Skipped when the item was
  created after that instant (the owner has just agreed to the deadline) or when
  `reminder_days` is 0.
- ``overdue``: the day after the deadline, to the owner and the team lead.
- ``escalate``: the day after `escalate_after` (the last day of the team's escalation window,
  counted in sprints from the sprint the item was created in), to the escalation contact.

Each step happens at most once per deadline. When the sweep finds several steps due at once
(the scheduler was down), only the latest is taken: nobody needs a reminder about a deadline
that has passed. An escalated item has no step ahead; it stays escalated until someone decides
(done, a new deadline, or deprioritized).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from opsyard_postmortems.models import ESCALATE, OPEN, OVERDUE, REMIND, ActionItem


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def pending_steps(item: ActionItem, *, reminder_days: int) -> list[Step]:
    """The steps still ahead of `item`, in ladder order (their times ascend)."""
    if item.status != OPEN or item.escalated_at is not None:
        return []
    steps: list[Step] = []
    if item.overdue_at is None:
        remind_at = start_of(item.deadline - timedelta(days=reminder_days))
        if item.reminded_at is None and reminder_days > 0 and remind_at > item.created_at:
            steps.append(Step(REMIND, remind_at))
        steps.append(Step(OVERDUE, start_of(item.deadline + timedelta(days=1))))
    escalate_at = start_of(item.escalate_after + timedelta(days=1))
    steps.append(Step(ESCALATE, max([escalate_at, *(step.at for step in steps)])))
    return steps


def next_step(item: ActionItem, *, reminder_days: int, now: datetime) -> Step | None:
    """The step to take next: the latest one already due at `now`, else the first ahead."""
    steps = pending_steps(item, reminder_days=reminder_days)
    due = [step for step in steps if step.at <= now]
    if due:
        return due[-1]
    return steps[0] if steps else None


def replan(item: ActionItem, *, reminder_days: int, now: datetime) -> None:
    """Store `item`'s next step in the indexed columns the sweep reads."""
    step = next_step(item, reminder_days=reminder_days, now=now)
    item.next_step = step.name if step else None
    item.next_action_at = step.at if step else None
