"""/api/v1/teams/{team}/events: a team's event history, for any member."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from opsyard.api.deps import DbSession, TeamAccess
from opsyard.auth.models import User
from opsyard.events import service
from opsyard.events.schemas import EventOut, EventPage

router = APIRouter(tags=["events"])


@router.get("/teams/{team}/events", response_model=EventPage)
def list_events(
    access: TeamAccess,
    session: DbSession,
    event_type: str | None = Query(
        default=None, alias="type", description="Only events of this type."
    ),
    before: str | None = Query(default=None, description="next_before of the previous page."),
    limit: int = Query(default=50, ge=1, le=500),
) -> EventPage:
    """The team's events, newest first."""
    rows = service.list_events(
        session, team=access.team, name=event_type, before=before, limit=limit
    )
    actor_ids = {r.actor_id for r in rows if r.actor_id is not None}
    found = session.execute(select(User.id, User.email).where(User.id.in_(actor_ids)))
    emails = {user_id: email for user_id, email in found}
    items = [
        EventOut(
            id=r.uid,
            type=r.name,
            occurred_at=r.occurred_at,
            data=r.payload,
            actor=emails.get(r.actor_id) if r.actor_id is not None else None,
            dispatched_at=r.dispatched_at,
        )
        for r in rows
    ]
    return EventPage(items=items, next_before=rows[-1].uid if len(rows) == limit else None)
