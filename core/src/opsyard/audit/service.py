"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit.models import AuditEntry
from opsyard.auth.models import User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    target: str = "",
    team_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry in the caller's transaction, so it exists exactly when the change does."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_label=actor.email if actor else "system",
        team_id=team_id,
        action=action,
        target=target,
        detail=detail or {},
    )
    session.add(entry)
    return entry


def list_entries(
    session: Session, *, team_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest first; all entries when `team_id` is None (site admins), else one team's."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if team_id is not None:
        query = query.where(AuditEntry.team_id == team_id)
    return list(session.scalars(query))
