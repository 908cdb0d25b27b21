"""GET /api/v1/teams/{team}/events."""

from __future__ import annotations

from fastapi.testclient import TestClient

from opsyard.db.engine import session_scope
from opsyard.events import emit
from tests.conftest import World
from tests.core.webhooks.helpers import emit_notes, now, run_job


def test_members_list_their_teams_events_newest_first(client: TestClient, world: World) -> None:
    ctx = world.ctx
    with session_scope(ctx.sessions) as session:
        emit(
            session,
            registry=ctx.registry,
            team=session.merge(world.teams["alpha"]),
            name="fixture.note.created",
            payload={"note_id": 1, "text": "by bob"},
            actor=session.merge(world.people["bob"]),
        )
    ids = [*emit_notes(ctx, count=2), *emit_notes(ctx, team="beta")]
    run_job(ctx, "core.events.dispatch", now())
    page = client.get("/api/v1/teams/alpha/events", headers=world.auth("vera")).json()
    assert [e["id"] for e in page["items"]][:2] == [ids[1], ids[0]]
    assert len(page["items"]) == 3
    oldest = page["items"][-1]
    assert oldest["type"] == "fixture.note.created"
    assert oldest["data"] == {"note_id": 1, "text": "by bob"}
    assert oldest["actor"] == "bob@example.com"
    assert oldest["dispatched_at"] is not None
    assert page["next_before"] is None


def test_events_are_paged_and_filtered(client: TestClient, world: World) -> None:
    ids = emit_notes(world.ctx, count=5)
    headers = world.auth("bob")
    first = client.get("/api/v1/teams/alpha/events?limit=2", headers=headers).json()
    assert [e["id"] for e in first["items"]] == [ids[4], ids[3]]
    second = client.get(
        f"/api/v1/teams/alpha/events?limit=2&before={first['next_before']}", headers=headers
    ).json()
    assert [e["id"] for e in second["items"]] == [ids[2], ids[1]]
    filtered = client.get("/api/v1/teams/alpha/events?type=other.thing", headers=headers).json()
    assert filtered["items"] == []
    bad = client.get("/api/v1/teams/alpha/events?before=evt_nope", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/query/before"


def test_another_teams_events_do_not_exist(client: TestClient, world: World) -> None:
    emit_notes(world.ctx)
    response = client.get("/api/v1/teams/alpha/events", headers=world.auth("carol"))
    assert response.status_code == 404
    assert client.get("/api/v1/teams/beta/events", headers=world.auth("carol")).json() == {
        "items": [],
        "next_before": None,
    }
