"""The on-call page: who is on call now and the next hand-offs for everyone in the team;
owners manage rotations, members cover shifts, viewers only look."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.db.base import utcnow
from opsyard.oncall import service as oncall
from opsyard.oncall.models import Override, Rotation
from tests.conftest import World
from tests.web.conftest import send

PAGE = "/t/alpha/oncall"
BERLIN = ZoneInfo("Europe/Berlin")


def _rotation(
    browser: TestClient, url: str = f"{PAGE}/rotations", **fields: str
) -> tuple[int, str]:
    # Daily hand-offs half a day from now, so none falls inside the test.
    handoff = (datetime.now(BERLIN) + timedelta(hours=12)).strftime("%H:%M")
    data = {
        "name": "primary",
        "timezone": "Europe/Berlin",
        "handoff_time": handoff,
        "period": "daily",
        "start_date": (datetime.now(BERLIN).date() - timedelta(days=7)).isoformat(),
        "members": "alice@example.com\nbob@example.com",
        **fields,
    }
    response = send(browser, url, data, target="oncall")
    return response.status_code, response.text


def _now_person(page: str) -> str:
    found = re.search(r'<strong class="now-person">([^<]*)</strong>', page)
    assert found, "nobody shown as on call now"
    return found.group(1)


def _field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def _expected_now(world: World) -> str:
    with world.session() as session:
        [rotation] = session.scalars(select(Rotation))
        person = oncall.who_is_on_call(session, rotation=rotation, at=utcnow())
        assert person is not None
        return person.display_name


def test_without_a_rotation_owners_are_offered_one(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    owner = signed_in("alice").get(PAGE)
    assert owner.status_code == 200
    assert '<a href="/t/alpha/oncall" aria-current="page">On-call</a>' in owner.text
    assert "has no rotation yet" in owner.text
    assert "Create rotation" in owner.text
    # Everyone who may be paged takes turns by default; viewers do not.
    members = re.search(r'<textarea id="rotation-new-members"[^>]*>([^<]*)</textarea>', owner.text)
    assert members is not None
    assert members.group(1).split() == ["alice@example.com", "bob@example.com"]
    for who in ("bob", "vera"):
        page = signed_in(who).get(PAGE).text
        assert "Create rotation" not in page
        assert "Team owners create rotations." in page
    assert signed_in("carol").get(PAGE).status_code == 404


def test_owners_create_a_rotation_and_everyone_sees_who_is_on_call(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, block = _rotation(alice)
    assert status == 200, block
    assert block.lstrip().startswith('<div id="oncall">')
    assert "Rotation “primary” is created." in block
    expected = _expected_now(world)
    assert _now_person(block) == expected
    assert "Daily, handing over at" in block and "(Europe/Berlin)" in block

    for who in ("bob", "vera"):
        page = signed_in(who).get(PAGE).text
        assert _now_person(page) == expected
        assert "primary: its person is paged" in page
        # The next hand-offs: alternating people, one line per shift for two weeks or more.
        timeline = page[page.index('<ol class="timeline"') :]
        timeline = timeline[: timeline.index("</ol>")]
        people = re.findall(r'<span class="who"><strong>([^<]*)</strong>', timeline)
        assert len(people) >= 14
        assert all(a != b for a, b in itertools.pairwise(people))
        assert 'class="timeline-bar" aria-hidden="true"' in page
        assert "Change primary" not in page
    assert "Cover a shift" in signed_in("bob").get(PAGE).text
    assert "Cover a shift" not in signed_in("vera").get(PAGE).text


def test_rotation_form_errors_are_shown_beside_the_fields(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    status, block = _rotation(alice, timezone="Mars/Olympus")
    assert status == 422
    assert "Europe/Berlin" in _field_error(block, "rotation-new-timezone")
    assert 'value="Mars/Olympus"' in block

    # Someone outside the team, and someone without an account, get the same answer.
    for stranger in ("carol@example.com", "nobody@example.com"):
        status, block = _rotation(alice, members=f"alice@example.com\n{stranger}")
        assert status == 422
        assert _field_error(block, "rotation-new-members") == "Choose a member of the team."
        assert f"{stranger} is not a member of alpha." in block

    status, block = _rotation(alice, members="  ")
    assert status == 422
    assert "one email per line" in _field_error(block, "rotation-new-members")
    status, block = _rotation(alice, handoff_time="25:00")
    assert status == 422
    assert _field_error(block, "rotation-new-handoff_time") == "Use HH:MM, e.g. 09:00."
    # Far-off dates would overflow the schedule arithmetic: refused beside the field.
    status, block = _rotation(alice, start_date="9999-12-31", timezone="America/Anchorage")
    assert status == 422
    assert "ten years" in _field_error(block, "rotation-new-start_date")
    status, block = _rotation(alice, name="n" * 101)
    assert status == 422
    assert "at most 100" in _field_error(block, "rotation-new-name")

    assert _rotation(alice)[0] == 200
    status, block = _rotation(alice)
    assert status == 409
    assert _field_error(block, "rotation-new-name") == "Choose another name."
    with world.session() as session:
        assert len(list(session.scalars(select(Rotation)))) == 1


def test_members_cover_a_shift_and_remove_the_override(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    _rotation(signed_in("alice"))
    with world.session() as session:
        rotation_id = session.scalars(select(Rotation.id)).one()
    expected = _expected_now(world)
    cover = "bob@example.com" if expected == "Alice" else "alice@example.com"
    covering = "Bob" if expected == "Alice" else "Alice"
    now = datetime.now(BERLIN)
    window = {
        "user": cover,
        "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
    }
    url = f"{PAGE}/rotations/{rotation_id}/overrides"

    bob = signed_in("bob")
    page = bob.get(PAGE).text
    assert 'option value="bob@example.com" selected' in page  # who opens it covers, by default
    backwards = {**window, "ends_at": window["starts_at"], "starts_at": window["ends_at"]}
    refused = send(bob, url, backwards, target="oncall")
    assert refused.status_code == 422
    assert "after starts_at" in _field_error(refused.text, f"cover-{rotation_id}-ends_at")
    far = send(bob, url, {**window, "ends_at": "9999-12-31T23:30"}, target="oncall")
    assert "ten years" in _field_error(far.text, f"cover-{rotation_id}-ends_at")
    nobody = send(bob, url, {**window, "user": ""}, target="oncall")
    assert _field_error(nobody.text, f"cover-{rotation_id}-user") == "Choose a team member."
    assert send(signed_in("vera"), url, window, target="oncall").status_code == 403

    added = send(bob, url, window, target="oncall")
    assert added.status_code == 200, added.text
    assert f"{covering} covers" in added.text
    assert _now_person(added.text) == covering
    assert "override, until" in added.text
    with world.session() as session:
        override = session.scalars(select(Override)).one()
        assert (
            override.starts_at.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
            == (window["starts_at"])
        )
        override_id = override.id

    remove = f"{PAGE}/rotations/{rotation_id}/overrides/{override_id}/delete"
    assert send(signed_in("vera"), remove, target="oncall").status_code == 403
    removed = send(bob, remove, target="oncall")
    assert removed.status_code == 200
    assert "override is removed" in removed.text
    assert _now_person(removed.text) == expected
    assert send(signed_in("carol"), url, window, target="oncall").status_code == 404


def test_owners_change_and_delete_a_rotation(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    _rotation(alice)
    with world.session() as session:
        rotation_id = session.scalars(select(Rotation.id)).one()
    url = f"{PAGE}/rotations/{rotation_id}"

    page = alice.get(PAGE).text
    assert '<details class="edit-rotation">' in page
    refused = send(alice, url, {"name": "primary", "timezone": "UTC"}, target="oncall")
    assert refused.status_code == 422
    assert '<details class="edit-rotation" open>' in refused.text  # the error is not hidden
    assert _field_error(refused.text, f"rotation-{rotation_id}-handoff_time")

    status, block = _rotation(
        alice, url, name="day shift", timezone="UTC", period="weekly", members="bob@example.com"
    )
    assert status == 200, block
    assert "Rotation “day shift” is changed." in block
    assert "Weekly, handing over on" in block and "(UTC)" in block
    assert _now_person(block) == "Bob"

    for who in ("bob", "vera"):
        browser = signed_in(who)
        assert _rotation(browser, url, name="mine")[0] == 403
        assert send(browser, f"{url}/delete", target="oncall").status_code == 403
    gone = send(alice, f"{url}/delete", target="oncall")
    assert gone.status_code == 200
    assert "Rotation “day shift” is deleted." in gone.text
    assert "has no rotation yet" in gone.text
    assert send(alice, f"{url}/delete", target="oncall").status_code == 404


def test_a_rotation_that_has_not_started_has_nobody_on_call(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice")
    later = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    status, block = _rotation(alice, start_date=later)
    assert status == 200
    assert _now_person(block) == "Nobody"
    assert "Nobody" in block[block.index('<ol class="timeline"') :]
