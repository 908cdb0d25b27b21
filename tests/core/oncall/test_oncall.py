"""Rotations and overrides in the database, and the on-call API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient

from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.oncall import service as oncall
from opsyard.oncall.models import Rotation
from tests.conftest import World

URL = "/api/v1/teams/alpha/oncall"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _rotation(world: World, *members: str, period: str = "weekly") -> int:
    with session_scope(world.ctx.sessions) as session:
        rotation = oncall.create_rotation(
            session,
            team=session.merge(world.teams["alpha"]),
            name="primary",
            timezone="Europe/London",
            handoff_time=time(9, 0),
            period=period,
            start_date=date(2026, 3, 2),
            members=[session.merge(world.people[m]) for m in members],
            actor=None,
        )
        return rotation.id


def _override(world: World, rotation_id: int, who: str, start: datetime, hours: int) -> None:
    with session_scope(world.ctx.sessions) as session:
        oncall.add_override(
            session,
            team=session.merge(world.teams["alpha"]),
            rotation=session.get_one(Rotation, rotation_id),
            user=session.merge(world.people[who]),
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            actor=None,
        )


def _who(world: World, rotation_id: int, at: datetime) -> str | None:
    with world.ctx.sessions() as session:
        user = oncall.who_is_on_call(
            session, rotation=session.get_one(Rotation, rotation_id), at=at
        )
        return user.email.split("@")[0] if user else None


def test_who_is_on_call_follows_the_rotation_and_overrides_win(world: World) -> None:
    rotation = _rotation(world, "alice", "bob")
    assert _who(world, rotation, MONDAY - timedelta(minutes=1)) is None
    assert _who(world, rotation, MONDAY) == "alice"
    assert _who(world, rotation, MONDAY + timedelta(days=7)) == "bob"
    assert _who(world, rotation, MONDAY + timedelta(days=14)) == "alice"

    _override(world, rotation, "vera", MONDAY + timedelta(days=1), hours=12)
    _override(world, rotation, "bob", MONDAY + timedelta(days=1, hours=6), hours=2)
    day = MONDAY + timedelta(days=1)
    assert _who(world, rotation, day - timedelta(seconds=1)) == "alice"
    assert _who(world, rotation, day) == "vera"
    assert _who(world, rotation, day + timedelta(hours=7)) == "bob"  # added last, wins
    assert _who(world, rotation, day + timedelta(hours=8)) == "vera"
    assert _who(world, rotation, day + timedelta(hours=12)) == "alice"
    # Overrides also cover time before the rotation starts.
    _override(world, rotation, "bob", MONDAY - timedelta(hours=3), hours=2)
    assert _who(world, rotation, MONDAY - timedelta(hours=2)) == "bob"


def test_the_timeline_merges_shifts_and_overrides(world: World) -> None:
    rotation = _rotation(world, "alice", "bob", period="daily")
    _override(world, rotation, "vera", MONDAY + timedelta(hours=3), hours=2)
    with world.ctx.sessions() as session:
        segments = oncall.timeline(
            session,
            rotation=session.get_one(Rotation, rotation),
            start=MONDAY,
            end=MONDAY + timedelta(days=2),
        )
        shown = [
            (s.starts_at - MONDAY, s.user.email.split("@")[0] if s.user else None, s.source)
            for s in segments
        ]
    hours = timedelta(hours=1)
    assert shown == [
        (0 * hours, "alice", "rotation"),
        (3 * hours, "vera", "override"),
        (5 * hours, "alice", "rotation"),
        (24 * hours, "bob", "rotation"),
    ]


def test_only_team_members_can_be_on_call(world: World) -> None:
    with pytest.raises(OpsyardError) as raised:
        _rotation(world, "alice", "carol")  # carol is in beta only
    assert raised.value.code == "oncall.not_team_member"
    assert raised.value.fields[0].pointer == "/members/1"
    rotation = _rotation(world, "alice")
    with pytest.raises(OpsyardError) as raised:
        _override(world, rotation, "carol", MONDAY, hours=1)
    assert raised.value.code == "oncall.not_team_member"


def test_the_primary_rotation_names_the_teams_on_call_engineer(world: World) -> None:
    _rotation(world, "alice", "bob")
    with session_scope(world.ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])
        oncall.create_rotation(
            session,
            team=alpha,
            name="secondary",
            timezone="UTC",
            handoff_time=time(0, 0),
            period="daily",
            start_date=date(2026, 1, 1),
            members=[session.merge(world.people["vera"])],
            actor=None,
        )
    with world.ctx.sessions() as session:
        alpha = session.merge(world.teams["alpha"])
        primary = oncall.team_on_call(session, team=alpha, at=MONDAY)
        secondary = oncall.team_on_call(session, team=alpha, at=MONDAY, rotation="secondary")
        beta = oncall.team_on_call(session, team=session.merge(world.teams["beta"]), at=MONDAY)
    assert primary is not None and primary.email == "alice@example.com"
    assert secondary is not None and secondary.email == "vera@example.com"
    assert beta is None


def test_owners_manage_rotations_over_the_api(client: TestClient, world: World) -> None:
    body = {
        "name": "primary",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "period": "daily",
        "start_date": "2026-03-02",
        "members": ["alice@example.com", "bob@example.com"],
    }
    assert client.post(f"{URL}/rotations", json=body, headers=world.auth("bob")).status_code == 403
    created = client.post(f"{URL}/rotations", json=body, headers=world.auth("alice"))
    assert created.status_code == 201, created.text
    rotation = created.json()
    assert [m["email"] for m in rotation["members"]] == ["alice@example.com", "bob@example.com"]
    assert rotation["handoff_time"] == "09:00:00"

    clash = client.post(f"{URL}/rotations", json=body, headers=world.auth("alice"))
    assert clash.status_code == 409 and clash.json()["code"] == "oncall.name_taken"
    bad_zone = client.post(
        f"{URL}/rotations",
        json={**body, "name": "x", "timezone": "Europe/Atlantis"},
        headers=world.auth("alice"),
    )
    assert bad_zone.status_code == 422 and bad_zone.json()["code"] == "oncall.unknown_timezone"
    stranger = client.post(
        f"{URL}/rotations",
        json={**body, "name": "x", "members": ["nobody@example.com"]},
        headers=world.auth("alice"),
    )
    assert stranger.json()["code"] == "oncall.not_team_member"
    far_future = client.post(
        f"{URL}/rotations",
        json={**body, "name": "x", "start_date": "9999-12-31"},
        headers=world.auth("alice"),
    )
    assert far_future.status_code == 422
    assert far_future.json()["errors"][0]["pointer"] == "/start_date"

    rid = rotation["id"]
    changed = client.patch(
        f"{URL}/rotations/{rid}",
        json={"members": ["bob@example.com", "vera@example.com"], "period": "weekly"},
        headers=world.auth("alice"),
    )
    assert changed.status_code == 200, changed.text
    assert [m["email"] for m in changed.json()["members"]] == [
        "bob@example.com",
        "vera@example.com",
    ]
    assert changed.json()["period"] == "weekly"

    assert client.get(f"{URL}/rotations", headers=world.auth("vera")).status_code == 200
    assert client.get(f"{URL}/rotations/{rid}", headers=world.auth("carol")).status_code == 404
    assert (
        client.get(
            f"/api/v1/teams/beta/oncall/rotations/{rid}", headers=world.auth("carol")
        ).status_code
        == 404
    )
    assert client.delete(f"{URL}/rotations/{rid}", headers=world.auth("alice")).status_code == 204
    assert client.get(f"{URL}/rotations", headers=world.auth("alice")).json() == []


def test_who_is_on_call_now_and_overrides_over_the_api(client: TestClient, world: World) -> None:
    rid = _rotation(world, "alice", "bob", period="daily")
    now = client.get(
        f"{URL}/now", params={"at": "2026-03-03T10:00:00+01:00"}, headers=world.auth("vera")
    )
    assert now.status_code == 200, now.text
    [answer] = now.json()["rotations"]
    assert answer["user"]["email"] == "bob@example.com"
    assert answer["source"] == "rotation"
    assert answer["until"] == "2026-03-04T09:00:00Z"

    window = {
        "user": "vera@example.com",
        "starts_at": "2026-03-03T08:00:00Z",
        "ends_at": "2026-03-03T12:00:00Z",
    }
    added = client.post(f"{URL}/rotations/{rid}/overrides", json=window, headers=world.auth("bob"))
    assert added.status_code == 201, added.text
    answer = client.get(
        f"{URL}/now", params={"at": "2026-03-03T09:30:00Z"}, headers=world.auth("vera")
    ).json()["rotations"][0]
    assert (answer["user"]["email"], answer["source"]) == ("vera@example.com", "override")
    assert answer["until"] == "2026-03-03T12:00:00Z"

    listed = client.get(
        f"{URL}/rotations/{rid}/overrides?include_past=true", headers=world.auth("vera")
    ).json()
    assert [o["user"]["email"] for o in listed] == ["vera@example.com"]
    timeline = client.get(
        f"{URL}/rotations/{rid}/timeline",
        params={"from": "2026-03-03T00:00:00Z", "days": 1},
        headers=world.auth("vera"),
    ).json()
    assert [s["user"]["email"] for s in timeline] == [
        "alice@example.com",
        "vera@example.com",
        "bob@example.com",
    ]

    backwards = {**window, "ends_at": "2026-03-03T07:00:00Z"}
    refused = client.post(
        f"{URL}/rotations/{rid}/overrides", json=backwards, headers=world.auth("bob")
    )
    assert refused.status_code == 422 and refused.json()["code"] == "oncall.invalid_window"
    naive = client.get(
        f"{URL}/now", params={"at": "2026-03-03T09:30:00"}, headers=world.auth("vera")
    )
    assert naive.status_code == 422
    deleted = client.delete(
        f"{URL}/rotations/{rid}/overrides/{added.json()['id']}", headers=world.auth("bob")
    )
    assert deleted.status_code == 204
    assert (
        client.get(
            f"{URL}/rotations/{rid}/overrides?include_past=true", headers=world.auth("bob")
        ).json()
        == []
    )
