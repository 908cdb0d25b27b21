"""The post-mortems API: every route for a member, and who may not use it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard_postmortems import items, postmortems
from opsyard_postmortems.schemas import ActionItemIn
from tests.conftest import World
from tests.core.routes import endpoints

URL = "/api/v1/teams/alpha/postmortems"
BETA_URL = "/api/v1/teams/beta/postmortems"
PROBLEM_JSON = "application/problem+json"


def _create(client: TestClient, world: World, who: str = "bob", **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Checkout errors after deploy",
        "severity": "sev2",
        "incident_started_at": "2026-11-01T10:00:00Z",
        "incident_ended_at": "2026-11-01T11:30:00Z",
        "summary": "Payments failed for **90 minutes**.",
        **fields,
    }
    response = client.post(URL, json=body, headers=world.auth(who))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _add_item(
    client: TestClient, world: World, number: int, title: str, owner: str = "bob", **fields: Any
) -> dict[str, Any]:
    body = {
        "title": title,
        "owner_id": world.people[owner].id,
        "deadline": "sprint+0",
        **fields,
    }
    response = client.post(f"{URL}/{number}/items", json=body, headers=world.auth("bob"))
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def _overdue_item(world: World, *, team: str, owner: str, title: str) -> int:
    """An item created forty days ago, due at the end of that sprint: overdue today."""
    past = utcnow() - timedelta(days=40)
    with session_scope(world.ctx.sessions) as session:
        actor = session.merge(world.people[owner])
        postmortem = postmortems.list_postmortems(
            session, team=session.merge(world.teams[team]), now=utcnow()
        )[0]
        item = items.add_item(
            session,
            portal=world.ctx,
            postmortem=postmortem,
            actor=actor,
            data=ActionItemIn(title=title, owner_id=actor.id, deadline="sprint+0"),
            now=past,
        )
        return item.id


# --- post-mortems -------------------------------------------------------------------------


def test_a_member_writes_a_postmortem_and_a_reviewer_publishes_it(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    bob, alice = world.auth("bob"), world.auth("alice")
    created = _create(client, world, author_ids=[world.people["bob"].id])
    assert created["reference"] == "PM-1" and created["status"] == "draft"
    assert [a["email"] for a in created["authors"]] == ["bob@example.com"]
    assert _create(client, world, title="Second", severity="sev4")["number"] == 2

    patched = client.patch(f"{URL}/1", json={"lessons": "Canary first."}, headers=bob)
    assert patched.status_code == 200, patched.text
    assert patched.json()["lessons"] == "Canary first."
    assert patched.json()["title"] == "Checkout errors after deploy"

    listed = client.get(URL, headers=world.auth("vera")).json()
    assert {p["reference"] for p in listed} == {"PM-1", "PM-2"}
    only = client.get(URL, params={"severity": "sev4"}, headers=bob).json()
    assert [p["title"] for p in only] == ["Second"]

    review = client.post(
        f"{URL}/1/review", json={"reviewer_id": world.people["alice"].id}, headers=bob
    )
    assert review.status_code == 200, review.text
    assert review.json()["status"] == "in_review"
    assert review.json()["reviewer"]["email"] == "alice@example.com"
    # Back to draft and into review again: the round trip works.
    assert client.post(f"{URL}/1/draft", headers=bob).json()["status"] == "draft"
    client.post(f"{URL}/1/review", json={"reviewer_id": world.people["alice"].id}, headers=bob)
    # Publishing needs the reviewer's approval first.
    _problem(client.post(f"{URL}/1/publish", headers=bob), 409, "postmortems.approval_required")
    approved = client.post(f"{URL}/1/approve", headers=alice)
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"]["email"] == "alice@example.com"
    published = client.post(f"{URL}/1/publish", headers=bob)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert [
        p["number"] for p in client.get(URL, params={"status": "published"}, headers=bob).json()
    ] == [1]


def test_timeline_links_and_parking_lot_are_added_and_removed(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    bob = world.auth("bob")
    _create(client, world)
    entry = client.post(
        f"{URL}/1/timeline",
        json={"occurred_at": "2026-11-01T10:05:00Z", "text": "Alert fired"},
        headers=bob,
    )
    assert entry.status_code == 201, entry.text
    link = client.post(
        f"{URL}/1/links",
        json={"title": "Dashboard", "url": "https://grafana.example.com/d/1"},
        headers=bob,
    )
    assert link.status_code == 201, link.text
    idea = client.post(f"{URL}/1/ideas", json={"text": "Chaos day for payments"}, headers=bob)
    assert idea.status_code == 201, idea.text

    shown = client.get(f"{URL}/1", headers=world.auth("vera")).json()
    assert [e["text"] for e in shown["timeline"]] == ["Alert fired"]
    assert [link["url"] for link in shown["links"]] == ["https://grafana.example.com/d/1"]
    assert [i["text"] for i in shown["ideas"]] == ["Chaos day for payments"]

    for path in (
        f"timeline/{entry.json()['id']}",
        f"links/{link.json()['id']}",
        f"ideas/{idea.json()['id']}",
    ):
        response = client.delete(f"{URL}/1/{path}", headers=bob)
        assert response.status_code == 204, (path, response.text)
        assert client.delete(f"{URL}/1/{path}", headers=bob).status_code == 404
    emptied = client.get(f"{URL}/1", headers=bob).json()
    assert emptied["timeline"] == emptied["links"] == emptied["ideas"] == []


def test_export_is_markdown(client: TestClient, pm_world: World) -> None:
    world = pm_world
    _create(client, world)
    _add_item(client, world, 1, "Add a canary stage")
    response = client.get(f"{URL}/1/export", headers=world.auth("vera"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert 'filename="PM-1.md"' in response.headers["content-disposition"]
    text = response.text
    assert text.startswith("# ")
    assert "Checkout errors after deploy" in text
    assert "Add a canary stage" in text
    assert "**90 minutes**" in text


def test_an_unknown_number_is_a_problem_and_items_is_never_a_number(
    client: TestClient, pm_world: World
) -> None:
    bob = pm_world.auth("bob")
    _problem(client.get(f"{URL}/7", headers=bob), 404, "postmortems.not_found")
    _problem(client.get(f"{URL}/items/99", headers=bob), 404, "postmortems.not_found")
    assert client.get(f"{URL}/items", headers=bob).json() == []
    _problem(client.get(f"{URL}/PM-1", headers=bob), 422, "request.invalid")


# --- action items --------------------------------------------------------------------------


def test_a_fourth_action_item_is_refused_and_points_to_the_parking_lot(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    _create(client, world)
    for title in ("Canary stage", "Alert on error budget", "Runbook for rollbacks"):
        _add_item(client, world, 1, title)
    fourth = client.post(
        f"{URL}/1/items",
        json={"title": "Load test", "owner_id": world.people["bob"].id, "deadline": "sprint+0"},
        headers=world.auth("bob"),
    )
    problem = _problem(fourth, 422, "postmortems.too_many_action_items")
    assert problem["category"] == "user_fixable"
    assert "parking lot" in problem["remediation"]
    assert len(client.get(f"{URL}/1", headers=world.auth("bob")).json()["items"]) == 3
    # The idea still has a home.
    parked = client.post(f"{URL}/1/ideas", json={"text": "Load test"}, headers=world.auth("bob"))
    assert parked.status_code == 201


def test_done_deprioritize_reopen_and_extend_round_trips(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    bob = world.auth("bob")
    _create(client, world)
    item = _add_item(client, world, 1, "Canary stage", deadline="sprint+0")
    assert item["status"] == "open" and item["deadline_rule"] == "sprint+0"
    url = f"{URL}/items/{item['id']}"
    assert client.get(url, headers=world.auth("vera")).json()["title"] == "Canary stage"

    done = client.post(
        f"{url}/done", json={"evidence_url": "https://github.com/acme/shop/pull/7"}, headers=bob
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["evidence_url"] == "https://github.com/acme/shop/pull/7"
    assert done.json()["done_at"] is not None
    _problem(
        client.post(f"{url}/done", json={"evidence_note": "again"}, headers=bob),
        409,
        "postmortems.invalid_transition",
    )

    reopened = client.post(
        f"{url}/reopen", json={"reason": "The canary skips batch jobs"}, headers=bob
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"

    extended = client.post(
        f"{url}/extend",
        json={"deadline": "sprint+1", "reason": "Waiting for the new runner"},
        headers=bob,
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["extensions_used"] == 1
    assert extended.json()["deadline"] > item["deadline"]

    revisit = (utcnow().date() + timedelta(days=30)).isoformat()
    parked = client.post(
        f"{url}/deprioritize",
        json={"reason": "Payments freeze until January", "revisit_on": revisit},
        headers=bob,
    )
    assert parked.status_code == 200, parked.text
    body = parked.json()
    assert body["status"] == "deprioritized"
    assert body["deprioritized_reason"] == "Payments freeze until January"
    assert body["deprioritized_by"]["email"] == "bob@example.com"
    assert body["revisit_on"] == revisit

    history = client.get(f"{url}/history", headers=world.auth("vera")).json()
    assert [h["kind"] for h in history] == [
        "created",
        "done",
        "reopened",
        "deadline_extended",
        "deprioritized",
    ]
    assert history[2]["detail"]["reason"] == "The canary skips batch jobs"


def test_owner_and_tracker_changes(client: TestClient, pm_world: World) -> None:
    world = pm_world
    bob = world.auth("bob")
    _create(client, world)
    item = _add_item(client, world, 1, "Canary stage")
    url = f"{URL}/items/{item['id']}"
    moved = client.post(f"{url}/owner", json={"owner_id": world.people["alice"].id}, headers=bob)
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner"]["email"] == "alice@example.com"
    _problem(
        client.post(f"{url}/owner", json={"owner_id": world.people["carol"].id}, headers=bob),
        422,
        "postmortems.owner_not_member",
    )
    linked = client.post(
        f"{url}/tracker", json={"url": "https://github.com/acme/shop/issues/123"}, headers=bob
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["tracker_url"] == "https://github.com/acme/shop/issues/123"
    kinds = [h["kind"] for h in client.get(f"{url}/history", headers=bob).json()]
    assert kinds == ["created", "owner_changed", "tracker_linked"]


def test_the_team_item_list_filters(client: TestClient, pm_world: World) -> None:
    world = pm_world
    bob = world.auth("bob")
    _create(client, world)
    mine = _add_item(client, world, 1, "Canary stage", owner="bob")
    alices = _add_item(client, world, 1, "Error budget alert", owner="alice")
    late = _overdue_item(world, team="alpha", owner="bob", title="Runbook")

    def ids(**params: Any) -> list[int]:
        response = client.get(f"{URL}/items", params=params, headers=bob)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()]

    assert sorted(ids()) == sorted([mine["id"], alices["id"], late])
    assert sorted(ids(owner="me")) == sorted([mine["id"], late])
    assert ids(owner=str(world.people["alice"].id)) == [alices["id"]]
    assert ids(overdue="true") == [late]
    assert ids(escalated="true") == []
    assert ids(status="done") == []
    _problem(
        client.get(f"{URL}/items", params={"owner": "bob"}, headers=bob), 422, "request.invalid"
    )
    _problem(
        client.get(f"{URL}/items", params={"status": "closed"}, headers=bob), 422, "request.invalid"
    )
    overdue_list = client.get(URL, params={"overdue": "true"}, headers=bob).json()
    assert [(p["number"], p["overdue_items"]) for p in overdue_list] == [(1, 1)]


def test_my_items_span_only_the_teams_that_enabled_the_plugin(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    with session_scope(world.ctx.sessions) as session:
        teams.add_member(
            session,
            team=session.merge(world.teams["beta"]),
            user=session.merge(world.people["bob"]),
            role=Role.MEMBER,
            actor=None,
        )
    _create(client, world)
    in_alpha = _add_item(client, world, 1, "Canary stage")
    _add_item(client, world, 1, "Alice's item", owner="alice")
    beta_pm = client.post(
        BETA_URL,
        json={
            "title": "DNS outage",
            "severity": "sev1",
            "incident_started_at": "2026-11-02T08:00:00Z",
        },
        headers=world.auth("carol"),
    )
    assert beta_pm.status_code == 201, beta_pm.text
    in_beta = client.post(
        f"{BETA_URL}/1/items",
        json={
            "title": "Second resolver",
            "owner_id": world.people["bob"].id,
            "deadline": "sprint+0",
        },
        headers=world.auth("carol"),
    )
    assert in_beta.status_code == 201, in_beta.text

    def mine() -> list[tuple[str, int]]:
        response = client.get(f"{URL}/items/mine", headers=world.auth("bob"))
        assert response.status_code == 200, response.text
        return sorted((item["team"], item["id"]) for item in response.json())

    assert mine() == [("alpha", in_alpha["id"]), ("beta", in_beta.json()["id"])]
    with session_scope(world.ctx.sessions) as session:
        teams.disable_plugin(
            session, team=session.merge(world.teams["beta"]), plugin="postmortems", actor=None
        )
    assert mine() == [("alpha", in_alpha["id"])]


# --- settings, digest, dashboard ---------------------------------------------------------------


def test_settings_are_read_by_all_and_changed_by_owners(
    client: TestClient, pm_world: World
) -> None:
    world = pm_world
    defaults = client.get(f"{URL}/settings", headers=world.auth("vera"))
    assert defaults.status_code == 200
    assert defaults.json()["escalate_after_sprints"] == 2
    change = {
        "escalate_after_sprints": 3,
        "max_extensions": 1,
        "reminder_days": 3,
        "team_lead_id": world.people["alice"].id,
        "escalation_contact_id": world.people["bob"].id,
        "drafts_from_alerts": True,
    }
    _problem(
        client.put(f"{URL}/settings", json=change, headers=world.auth("bob")), 403, "auth.forbidden"
    )
    changed = client.put(f"{URL}/settings", json=change, headers=world.auth("alice"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["team_lead"]["email"] == "alice@example.com"
    again = client.get(f"{URL}/settings", headers=world.auth("bob")).json()
    assert again["escalate_after_sprints"] == 3 and again["drafts_from_alerts"] is True
    outsider = dict(change, escalation_contact_id=world.people["carol"].id)
    problem = _problem(
        client.put(f"{URL}/settings", json=outsider, headers=world.auth("alice")),
        422,
        "postmortems.invalid_settings",
    )
    assert problem["category"] == "user_fixable"


def test_digest_on_demand(client: TestClient, pm_world: World) -> None:
    world = pm_world
    _create(client, world)
    _add_item(client, world, 1, "Canary stage", owner="bob")
    bob_id = world.people["bob"].id
    own = client.post(f"{URL}/digest", headers=world.auth("bob"))
    assert own.status_code == 200, own.text
    assert own.json() == {"sent": 1}
    # Alice owns nothing open: nothing to send.
    assert client.post(f"{URL}/digest", headers=world.auth("alice")).json() == {"sent": 0}
    _problem(
        client.post(
            f"{URL}/digest", json={"user_id": world.people["alice"].id}, headers=world.auth("bob")
        ),
        403,
        "auth.forbidden",
    )
    for_bob = client.post(f"{URL}/digest", json={"user_id": bob_id}, headers=world.auth("alice"))
    assert for_bob.status_code == 200, for_bob.text
    assert for_bob.json() == {"sent": 1}
    _problem(
        client.post(
            f"{URL}/digest", json={"user_id": world.people["carol"].id}, headers=world.auth("alice")
        ),
        422,
        "request.invalid",
    )


def test_dashboard_per_sprint_and_all_time(client: TestClient, pm_world: World) -> None:
    world = pm_world
    _create(client, world)
    _add_item(client, world, 1, "Canary stage")
    late = _overdue_item(world, team="alpha", owner="bob", title="Runbook")
    assert late
    board = client.get(f"{URL}/dashboard", headers=world.auth("vera"))
    assert board.status_code == 200, board.text
    body = board.json()
    assert body["all_time"]["sprint"] is None
    assert body["all_time"]["items"] == 2
    assert body["all_time"]["overdue"] == 1
    assert len(body["sprints"]) == 6
    current = body["sprints"][-1]["sprint"]
    assert current["starts_on"] <= utcnow().date().isoformat() <= current["ends_on"]
    assert body["sprints"][-1]["items"] == 1
    one = client.get(
        f"{URL}/dashboard", params={"sprint": current["number"]}, headers=world.auth("bob")
    )
    assert one.status_code == 200, one.text
    [figure] = one.json()["sprints"]
    assert figure["sprint"] == current
    assert figure["items"] == 1  # the other item was created forty days ago


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_a_problem_never_a_500(client: TestClient, pm_world: World) -> None:
    world = pm_world
    bob = world.auth("bob")
    _create(client, world, author_ids=[world.people["bob"].id])

    def add(**fields: Any) -> Any:
        body = {"title": "Canary", "owner_id": world.people["bob"].id, "deadline": "sprint+0"}
        return client.post(f"{URL}/1/items", json={**body, **fields}, headers=bob)

    problem = _problem(add(deadline="2001-01-01"), 422, "postmortems.invalid_deadline")
    assert problem["category"] == "user_fixable"
    assert problem["errors"][0]["pointer"] == "/deadline"
    _problem(add(deadline="next week"), 422, "postmortems.invalid_deadline")
    far = (utcnow().date() + timedelta(days=400)).isoformat()
    _problem(add(deadline=far), 422, "postmortems.invalid_deadline")
    unknown = _problem(add(owner_id=999_999), 422, "postmortems.owner_not_member")
    assert unknown["errors"][0]["pointer"] == "/owner_id"
    _problem(add(owner_id=world.people["carol"].id), 422, "postmortems.owner_not_member")
    _problem(add(title=""), 422, "request.invalid")
    _problem(add(surprise=True), 422, "request.invalid")

    # The reviewer cannot be one of the authors.
    reviewer_is_author = client.post(
        f"{URL}/1/review", json={"reviewer_id": world.people["bob"].id}, headers=bob
    )
    assert reviewer_is_author.status_code in (409, 422), reviewer_is_author.text
    assert reviewer_is_author.headers["content-type"].startswith(PROBLEM_JSON)
    assert reviewer_is_author.json()["code"].startswith("postmortems.")
    assert reviewer_is_author.json()["category"] == "user_fixable"
    _problem(
        client.post(
            URL,
            json={"title": "x", "severity": "sev9", "incident_started_at": "2026-11-01T10:00:00Z"},
            headers=bob,
        ),
        422,
        "request.invalid",
    )
    _problem(
        client.post(
            f"{URL}/1/links", json={"title": "x", "url": "javascript:alert(1)"}, headers=bob
        ),
        422,
        "request.invalid",
    )


# --- authorisation -----------------------------------------------------------------------------


def _plugin_routes(app: FastAPI) -> list[Any]:
    prefix = "/api/v1/teams/{team}/postmortems"
    return [e for e in endpoints(app) if e.template.startswith(prefix)]


ROUTES = {
    ("GET", ""),
    ("POST", ""),
    ("GET", "/items"),
    ("GET", "/items/mine"),
    ("GET", "/items/{item_id}"),
    ("GET", "/items/{item_id}/history"),
    ("POST", "/items/{item_id}/done"),
    ("POST", "/items/{item_id}/deprioritize"),
    ("POST", "/items/{item_id}/reopen"),
    ("POST", "/items/{item_id}/extend"),
    ("POST", "/items/{item_id}/owner"),
    ("POST", "/items/{item_id}/tracker"),
    ("GET", "/settings"),
    ("PUT", "/settings"),
    ("POST", "/digest"),
    ("GET", "/dashboard"),
    ("GET", "/{number}"),
    ("PATCH", "/{number}"),
    ("GET", "/{number}/export"),
    ("POST", "/{number}/review"),
    ("POST", "/{number}/approve"),
    ("POST", "/{number}/publish"),
    ("POST", "/{number}/draft"),
    ("POST", "/{number}/timeline"),
    ("DELETE", "/{number}/timeline/{entry_id}"),
    ("POST", "/{number}/links"),
    ("DELETE", "/{number}/links/{link_id}"),
    ("POST", "/{number}/items"),
    ("POST", "/{number}/ideas"),
    ("DELETE", "/{number}/ideas/{idea_id}"),
}


def test_the_router_has_every_route(app: FastAPI) -> None:
    templates = {
        (e.method, e.template.removeprefix("/api/v1/teams/{team}/postmortems"))
        for e in _plugin_routes(app)
    }
    assert templates == ROUTES


def test_a_viewer_gets_403_on_every_write(
    app: FastAPI, client: TestClient, pm_world: World
) -> None:
    _create(client, pm_world)
    writes = [e for e in _plugin_routes(app) if e.changes_state]
    assert len(writes) >= 20
    for endpoint in writes:
        response = client.request(
            endpoint.method, endpoint.url("alpha"), json={}, headers=pm_world.auth("vera")
        )
        _problem(response, 403, "auth.forbidden")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_another_teams_member_gets_404_on_everything(
    app: FastAPI, client: TestClient, pm_world: World, method: str
) -> None:
    world = pm_world
    _create(client, world)
    item = _add_item(client, world, 1, "Canary stage")
    routes = [e for e in _plugin_routes(app) if e.method == method]
    assert routes
    for endpoint in routes:
        # carol owns beta, not alpha: alpha's post-mortems do not exist for her.
        url = endpoint.url("alpha", item_id=str(item["id"]))
        response = client.request(method, url, json={}, headers=world.auth("carol"))
        _problem(response, 404, "resource.not_found")
    # Through her own team's address, alpha's item and post-mortem are not found either.
    carol = world.auth("carol")
    _problem(
        client.get(f"{BETA_URL}/items/{item['id']}", headers=carol), 404, "postmortems.not_found"
    )
    _problem(client.get(f"{BETA_URL}/1", headers=carol), 404, "postmortems.not_found")
    assert client.get(f"{BETA_URL}/items", headers=carol).json() == []


def test_a_team_without_the_plugin_gets_404(client: TestClient, world: World) -> None:
    _problem(client.get(URL, headers=world.auth("alice")), 404, "resource.not_found")


def test_numbers_out_of_range_are_problems(client: TestClient, pm_world: World) -> None:
    # Larger than any id the database can hold: refused up front, never a driver error.
    huge = str(10**20)
    bob = pm_world.auth("bob")
    for path, params in (
        (f"{URL}/{huge}", {}),
        (f"{URL}/0", {}),
        (f"{URL}/items/{huge}", {}),
        (f"{URL}/items", {"owner": huge}),
        (f"{URL}/dashboard", {"sprint": str(10**9)}),
    ):
        _problem(client.get(path, params=params, headers=bob), 422, "request.invalid")
    _problem(
        client.post(f"{URL}/digest", json={"user_id": 10**20}, headers=pm_world.auth("alice")),
        422,
        "request.invalid",
    )
