"""/api/v1/teams/{team}/calendar and `opsyard teams calendar`."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from opsyard.calendars import service
from opsyard.calendars.sprints import CadenceCalendar, ExplicitCalendar
from opsyard.cli.main import cli
from opsyard.db.base import utcnow
from tests.conftest import World

URL = "/api/v1/teams/alpha/calendar"


def test_a_team_starts_with_two_week_sprints(client: TestClient, world: World) -> None:
    body = client.get(URL, headers=world.auth("vera")).json()
    assert body["mode"] == "cadence" and body["is_default"] is True
    assert body["length_days"] == 14 and body["anchor_on"] == "2026-01-05"
    today = utcnow().date()
    current = body["current"]
    assert current["starts_on"] <= today.isoformat() <= current["ends_on"]
    assert len(body["upcoming"]) == 6 and body["upcoming"][0] == current


def test_owners_set_a_cadence(client: TestClient, world: World) -> None:
    response = client.put(
        URL,
        json={"mode": "cadence", "length_days": 7, "anchor_on": "2026-03-02"},
        headers=world.auth("alice"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["length_days"] == 7 and body["is_default"] is False
    assert date.fromisoformat(body["current"]["starts_on"]).weekday() == 0
    with world.session() as session:
        calendar = service.calendar_for(session, team=world.teams["alpha"])
    assert calendar == CadenceCalendar(7, date(2026, 3, 2))


def test_owners_set_an_explicit_list(client: TestClient, world: World) -> None:
    sprints = [
        {"name": "S1", "starts_on": "2026-11-02", "ends_on": "2026-11-13"},
        {"name": "S2", "starts_on": "2026-11-16", "ends_on": "2026-11-27"},
    ]
    response = client.put(
        URL, json={"mode": "explicit", "sprints": sprints}, headers=world.auth("alice")
    )
    assert response.status_code == 200, response.text
    assert [s["name"] for s in response.json()["sprints"]] == ["S1", "S2"]
    with world.session() as session:
        assert isinstance(
            service.calendar_for(session, team=world.teams["alpha"]), ExplicitCalendar
        )
    # Back to a cadence drops the list.
    client.put(
        URL,
        json={"mode": "cadence", "length_days": 14, "anchor_on": "2026-01-05"},
        headers=world.auth("alice"),
    )
    with world.session() as session:
        assert service.listed_sprints(session, team=world.teams["alpha"]) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"mode": "cadence", "length_days": 0, "anchor_on": "2026-01-05"}, "/length_days"),
        ({"mode": "cadence", "length_days": 91, "anchor_on": "2026-01-05"}, "/length_days"),
        ({"mode": "cadence", "anchor_on": "2026-01-05"}, "/length_days"),
        ({"mode": "explicit", "sprints": []}, "/sprints"),
        (
            {
                "mode": "explicit",
                "sprints": [
                    {"name": "A", "starts_on": "2026-01-05", "ends_on": "2026-01-16"},
                    {"name": "B", "starts_on": "2026-01-16", "ends_on": "2026-01-30"},
                ],
            },
            "/sprints/1/starts_on",
        ),
        (
            {
                "mode": "explicit",
                "sprints": [
                    {"name": "A", "starts_on": "2026-01-05", "ends_on": "2026-01-01"},
                ],
            },
            "/sprints/0/ends_on",
        ),
    ],
)
def test_a_bad_calendar_names_the_field(
    client: TestClient, world: World, body: dict[str, object], pointer: str
) -> None:
    response = client.put(URL, json=body, headers=world.auth("alice"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "calendar.invalid" and problem["category"] == "user_fixable"
    assert pointer in [error["pointer"] for error in problem["errors"]]


def test_only_owners_change_it_and_other_teams_see_nothing(
    client: TestClient, world: World
) -> None:
    body = {"mode": "cadence", "length_days": 7, "anchor_on": "2026-03-02"}
    assert client.put(URL, json=body, headers=world.auth("bob")).status_code == 403
    assert client.get(URL, headers=world.auth("carol")).status_code == 404
    assert client.put(URL, json=body, headers=world.auth("carol")).status_code == 404


def test_the_cli_shows_and_sets_the_calendar(world: World, cli_env: str) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["teams", "calendar", "alpha", "--count", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    set_ = runner.invoke(
        cli, ["teams", "calendar", "alpha", "--length", "7", "--anchor", "2026-03-02"]
    )
    assert set_.exit_code == 0, set_.output
    with world.session() as session:
        assert service.calendar_for(session, team=world.teams["alpha"]) == CadenceCalendar(
            7, date(2026, 3, 2)
        )
    bad = runner.invoke(cli, ["teams", "calendar", "alpha", "--length", "7"])
    assert bad.exit_code == 2
    invalid = runner.invoke(
        cli, ["teams", "calendar", "alpha", "--length", "0", "--anchor", "2026-03-02"]
    )
    assert invalid.exit_code == 1 and "calendar.invalid" in invalid.output
