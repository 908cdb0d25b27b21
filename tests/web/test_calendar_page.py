"""The sprint calendar on the team settings page: owners change it, everyone sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient

from opsyard.calendars import service
from opsyard.calendars.sprints import CadenceCalendar, ExplicitCalendar
from tests.conftest import World
from tests.web.conftest import send

URL = "/t/alpha/settings/calendar"


def _calendar(world: World) -> object:
    with world.session() as session:
        return service.calendar_for(session, team=session.merge(world.teams["alpha"]))


def test_everyone_sees_the_sprints_and_only_owners_the_form(
    signed_in: Callable[[str], TestClient],
) -> None:
    owner = signed_in("alice").get("/t/alpha/settings").text
    assert "Sprint calendar" in owner and "Current sprint" in owner
    assert "Save calendar" in owner
    viewer = signed_in("vera").get("/t/alpha/settings").text
    assert "Current sprint" in viewer and "Save calendar" not in viewer


def test_an_owner_sets_a_cadence_in_place(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    browser = signed_in("alice")
    response = send(
        browser,
        URL,
        {"mode": "cadence", "length_days": "7", "anchor_on": "2026-03-02"},
        target="calendar",
    )
    assert response.status_code == 200
    assert 'id="calendar"' in response.text and "7 days long" in response.text
    assert 'id="members"' not in response.text
    assert _calendar(world) == CadenceCalendar(7, date(2026, 3, 2))


def test_an_owner_types_a_list_of_sprints(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    lines = "Autumn 1, 2026-11-02, 2026-11-13\n\nAutumn 2, 2026-11-16, 2026-11-27\n"
    response = send(signed_in("alice"), URL, {"mode": "explicit", "sprints": lines}, htmx=True)
    assert response.status_code == 200 and "2 sprints saved" in response.text
    calendar = _calendar(world)
    assert isinstance(calendar, ExplicitCalendar)
    assert [s.name for s in calendar.sprints] == ["Autumn 1", "Autumn 2"]


def test_mistakes_are_shown_beside_the_field_and_change_nothing(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    browser = signed_in("alice")
    bad_line = send(
        browser, URL, {"mode": "explicit", "sprints": "Autumn 1, 2026-11-02"}, htmx=True
    )
    assert bad_line.status_code == 422
    assert "Line 1" in bad_line.text and 'aria-invalid="true"' in bad_line.text
    bad_day = send(
        browser, URL, {"mode": "cadence", "length_days": "14", "anchor_on": "soon"}, htmx=True
    )
    assert bad_day.status_code == 422 and "not a date" in bad_day.text
    assert _calendar(world) == CadenceCalendar(14, date(2026, 1, 5))


def test_members_and_other_teams_cannot_change_it(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    form = {"mode": "cadence", "length_days": "7", "anchor_on": "2026-03-02"}
    assert send(signed_in("bob"), URL, form, htmx=True).status_code == 403
    assert send(signed_in("carol"), URL, form, htmx=True).status_code == 404
    assert _calendar(world) == CadenceCalendar(14, date(2026, 1, 5))
