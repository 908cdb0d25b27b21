"""Claiming due rows for one worker, for tables that serve as durable work queues.

A row is due when its `next_attempt_at` has passed. Claiming pushes `next_attempt_at` forward
by a lease and stamps the claimer's token in one UPDATE, so two workers never take the same
row, and a worker that dies leaves its rows to be claimed again when the lease runs out.
PostgreSQL skips rows another transaction has locked instead of waiting for them; SQLite
serialises writers, so the conditional UPDATE alone is enough there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session


def claim_due(
    session: Session,
    model: Any,
    *,
    now: datetime,
    lease: timedelta,
    token: str,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[int]:
    """Claim up to `limit` due rows of `model` (which has `id`, `next_attempt_at` and
    `claimed_by` columns), oldest due first; returns their ids, sorted. Commits."""
    due = (
        select(model.id)
        .where(model.next_attempt_at <= now, *where)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = sorted(
        session.scalars(
            update(model)
            .where(model.id.in_(due.scalar_subquery()), model.next_attempt_at <= now)
            .values(next_attempt_at=now + lease, claimed_by=token)
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    return claimed
