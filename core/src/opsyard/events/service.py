"""Emitting, validating and listing events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.events.models import StoredEvent
from opsyard.extension import Event
from opsyard.plugins import PluginRegistry

if TYPE_CHECKING:
    from opsyard.context import PortalContext
from opsyard.teams.models import Team


def new_event_id() -> str:
    """A public event id; also the ``webhook-id`` of every webhook message for the event."""
    return f"evt_{uuid.uuid4().hex}"


def _checked_payload(registry: PluginRegistry, name: str, payload: Any) -> dict[str, Any]:
    """The payload as its declared schema reads it, in JSON form; raises when it does not fit."""
    event_type = registry.event_types.get(name)
    if event_type is None:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"Unknown event type {name!r}.",
            fields=[FieldProblem("/name", "Declare the event type through the event_types hook.")],
        )
    try:
        model = event_type.payload.model_validate(payload)
    except ValidationError as exc:
        fields = [
            FieldProblem("/payload/" + "/".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors()
        ]
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"Payload of {name} does not match its schema.",
            fields=fields,
        ) from exc
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


def validate(registry: PluginRegistry, event: Event) -> None:
    """Raise unless `event` names a declared type and its payload matches that type's schema."""
    _checked_payload(registry, event.name, event.payload)


def publish(portal: PortalContext, event: Event) -> int:
    """Validate `event` and hand it to every handler now, bypassing the outbox; returns how
    many handled it. A failing handler is logged and does not keep the event from the others."""
    validate(portal.registry, event)
    return sum(1 for _ in portal.registry.call_each("handle_event", event=event, portal=portal))


def emit(
    session: Session,
    *,
    registry: PluginRegistry,
    team: Team,
    name: str,
    payload: Mapping[str, Any] | BaseModel,
    actor: User | None = None,
    at: datetime | None = None,
) -> Event:
    """Validate and write an event in the caller's transaction; the dispatch job sends it on.

    Written beside the change that caused it, the event exists exactly when the change does:
    a rolled-back transaction leaves no event behind, a committed one never loses it.
    """
    raw = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    row = StoredEvent(
        uid=new_event_id(),
        team_id=team.id,
        name=name,
        payload=_checked_payload(registry, name, raw),
        actor_id=actor.id if actor else None,
        occurred_at=at or utcnow(),
    )
    session.add(row)
    session.flush()
    return to_event(row, team_slug=team.slug)


def to_event(row: StoredEvent, *, team_slug: str) -> Event:
    """The value handlers receive for a stored event."""
    return Event(
        name=row.name,
        team_slug=team_slug,
        payload=dict(row.payload),
        id=row.uid,
        occurred_at=row.occurred_at,
    )


def list_events(
    session: Session,
    *,
    team: Team,
    name: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[StoredEvent]:
    """A team's events, newest first; `before` is the id of the last event of the previous
    page, `name` keeps one event type."""
    query = select(StoredEvent).where(StoredEvent.team_id == team.id)
    if name:
        query = query.where(StoredEvent.name == name)
    if before:
        cursor = session.scalar(
            select(StoredEvent.id).where(StoredEvent.uid == before, StoredEvent.team_id == team.id)
        )
        if cursor is None:
            raise OpsyardError(
                errors.VALIDATION_FAILED,
                f"No event {before!r} to continue after.",
                fields=[FieldProblem("/query/before", "Pass the next_before of a previous page.")],
            )
        query = query.where(StoredEvent.id < cursor)
    return list(session.scalars(query.order_by(StoredEvent.id.desc()).limit(limit)))
