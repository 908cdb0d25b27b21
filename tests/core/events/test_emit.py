"""emit: validated, and written in the caller's transaction (an outbox)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.events import emit
from opsyard.events.models import StoredEvent
from tests.conftest import World


def _count(ctx: PortalContext) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(StoredEvent)) or 0


def test_an_event_is_written_with_the_change_that_caused_it(world: World) -> None:
    ctx = world.ctx
    with session_scope(ctx.sessions) as session:
        event = emit(
            session,
            registry=ctx.registry,
            team=session.merge(world.teams["alpha"]),
            name="fixture.note.created",
            payload={"note_id": "7", "text": "hello"},
            actor=session.merge(world.people["bob"]),
        )
    assert event.id.startswith("evt_")
    assert event.team_slug == "alpha"
    with ctx.sessions() as session:
        row = session.scalars(select(StoredEvent)).one()
    assert row.uid == event.id
    # Stored as the schema reads it: the string "7" became the integer the schema declares.
    assert row.payload == {"note_id": 7, "text": "hello"}
    assert row.actor_id == world.people["bob"].id
    assert row.dispatched_at is None


def test_a_rolled_back_transaction_leaves_no_event(world: World) -> None:
    ctx = world.ctx
    with pytest.raises(RuntimeError), session_scope(ctx.sessions) as session:
        emit(
            session,
            registry=ctx.registry,
            team=session.merge(world.teams["alpha"]),
            name="fixture.note.created",
            payload={"note_id": 1, "text": "never"},
        )
        raise RuntimeError("the change that caused the event failed")
    assert _count(ctx) == 0


def test_unknown_types_and_payloads_off_schema_are_refused(world: World) -> None:
    ctx = world.ctx
    with ctx.sessions() as session:
        team = session.merge(world.teams["alpha"])
        with pytest.raises(OpsyardError) as unknown:
            emit(session, registry=ctx.registry, team=team, name="fixture.nope", payload={})
        with pytest.raises(OpsyardError) as off_schema:
            emit(
                session,
                registry=ctx.registry,
                team=team,
                name="fixture.note.created",
                payload={"note_id": "x"},
            )
    assert unknown.value.code == "request.invalid"
    assert off_schema.value.code == "request.invalid"
    assert {f.pointer for f in off_schema.value.fields} == {"/payload/note_id", "/payload/text"}
    assert _count(ctx) == 0


def test_a_payload_may_be_the_declared_model(world: World) -> None:
    class NoteCreated(BaseModel):
        note_id: int
        text: str

    ctx = world.ctx
    with session_scope(ctx.sessions) as session:
        event = emit(
            session,
            registry=ctx.registry,
            team=session.merge(world.teams["beta"]),
            name="fixture.note.created",
            payload=NoteCreated(note_id=3, text="typed"),
        )
    assert event.payload == {"note_id": 3, "text": "typed"}
