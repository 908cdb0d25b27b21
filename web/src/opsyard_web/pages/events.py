"""A team's recent events: what the plugins emitted, and when it was handed on to handlers
and webhook subscriptions. Every team member reads it, as in the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opsyard.api.deps import DbSession, Portal, TeamAccess
from opsyard.auth.models import User
from opsyard.events import service as events
from opsyard_web.forms import FormState
from opsyard_web.rendering import render

router = APIRouter()

SHOWN = 50


@dataclass(frozen=True)
class EventRow:
    uid: str
    name: str
    occurred_at: datetime
    dispatched_at: datetime | None
    actor: str | None
    payload: str


@router.get("/t/{team}/integrations/events")
def events_page(
    request: Request,
    access: TeamAccess,
    session: DbSession,
    portal: Portal,
    event_type: Annotated[str | None, Query(alias="type")] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    chosen = event_type if event_type in portal.registry.event_types else None
    found = events.list_events(
        session, team=access.team, name=chosen, before=before or None, limit=SHOWN
    )
    people: dict[int, str] = {}
    for actor_id in {row.actor_id for row in found if row.actor_id is not None}:
        person = session.get(User, actor_id)
        if person is not None:
            people[actor_id] = person.display_name
    rows = [
        EventRow(
            uid=row.uid,
            name=row.name,
            occurred_at=row.occurred_at,
            dispatched_at=row.dispatched_at,
            actor=people.get(row.actor_id) if row.actor_id is not None else None,
            payload=json.dumps(row.payload, indent=2, ensure_ascii=False, sort_keys=True),
        )
        for row in found
    ]
    context: dict[str, Any] = {
        "rows": rows,
        "event_type": chosen,
        "type_options": [("", "All types"), *((n, n) for n in sorted(portal.registry.event_types))],
        "type_form": FormState(values={"type": chosen or ""}),
        "older": rows[-1].uid if len(rows) == SHOWN else None,
        "before": before,
    }
    return render(request, "events.html", context, session=session)
