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
    return claim_rows(
        session,
        model,
        where=[model.next_attempt_at <= now, *where],
        order_by=[model.next_attempt_at, model.id],
        values={"next_attempt_at": now + lease, "claimed_by": token},
        limit=limit,
    )


def claim_rows(
    session: Session,
    model: Any,
    *,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    values: dict[str, Any],
    limit: int,
) -> list[int]:
    """Set `values` on up to `limit` rows of `model` (which has an `id`) that match `where`,
    first in `order_by` order; returns their ids, sorted. Commits.

    `where` must stop matching a row once `values` are set (a lease in the future, a token),
    since it is checked again in the UPDATE: on SQLite, that is what keeps a row another
    writer claimed in between out.
    """
    chosen = (
        select(model.id)
        .where(*where)
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = sorted(
        session.scalars(
            update(model)
            .where(model.id.in_(chosen.scalar_subquery()), *where)
            .values(**values)
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    return claimed
