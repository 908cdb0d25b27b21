"""The post-mortems pages, driven like a browser: logged in through the form, changes sent
with the CSRF header htmx sends. Members edit in place, viewers only read, other teams see
nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard_postmortems import items as item_service
from opsyard_postmortems import postmortems as pm_service
from opsyard_postmortems.models import DONE, ActionItem, ItemHistory, PostMortem, TeamSettings
from opsyard_postmortems.schemas import ActionItemIn, PostMortemIn
from tests.conftest import World
from tests.core.routes import endpoints
from tests.web.conftest import login, send

BASE = "/t/alpha/postmortems"
Browser = Callable[[str], TestClient]


@pytest.fixture
def browser(app: FastAPI, pm_world: World) -> Iterator[Browser]:
    """browser("bob") -> a client logged in as bob through the login form."""
    opened: list[TestClient] = []

    def make(who: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        assert login(client, who).status_code == 303
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def make_postmortem(
    world: World,
    *,
    team: str = "alpha",
    by: str = "bob",
    title: str = "Checkout errors after deploy",
    severity: str = "sev2",
    summary: str = "",
) -> int:
    with session_scope(world.ctx.sessions) as session:
        created = pm_service.create_postmortem(
            session,
            portal=world.ctx,
            team=session.merge(world.teams[team]),
            actor=session.merge(world.people[by]),
            data=PostMortemIn(
                title=title,
                severity=severity,  # type: ignore[arg-type]
                incident_started_at=datetime(2026, 1, 10, 9, tzinfo=UTC),
                summary=summary,
                author_ids=[world.people[by].id],
            ),
        )
        return created.number


def make_item(
    world: World,
    number: int,
    *,
    owner: str = "bob",
    title: str = "Add a canary stage",
    deadline: str = "sprint+1",
    now: datetime | None = None,
) -> int:
    with session_scope(world.ctx.sessions) as session:
        team = session.merge(world.teams["alpha"])
        postmortem = pm_service.get_postmortem(session, team=team, number=number)
        item = item_service.add_item(
            session,
            portal=world.ctx,
            postmortem=postmortem,
            actor=session.merge(world.people["alice"]),
            data=ActionItemIn(title=title, owner_id=world.people[owner].id, deadline=deadline),
            now=now,
        )
        return item.id


def add_item_form(
    client: TestClient, number: int, world: World, title: str, owner: str = "bob"
) -> httpx.Response:
    return send(
        client,
        f"{BASE}/{number}/items",
        {"title": title, "owner_id": str(world.people[owner].id), "deadline": "sprint+1"},
        htmx=True,
    )


def field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def postmortem_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (endpoint.method, endpoint.url("alpha"))
        for endpoint in endpoints(app)
        if endpoint.template.startswith("/t/{team}/postmortems")
    ]


# -- reading ------------------------------------------------------------------------------


def test_every_page_renders_for_a_member(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world, summary="The **cache** was cold.")
    make_item(pm_world, number)
    bob = browser("bob")
    for path in ("/", "/mine", "/dashboard", "/settings", f"/{number}"):
        response = bob.get(BASE + path)
        assert response.status_code == 200, (path, response.text)
        assert "<html" in response.text
        # Labels point at their field only when ids are unique.
        ids = re.findall(r'\sid="([^"]+)"', response.text)
        assert len(ids) == len(set(ids)), (path, sorted({i for i in ids if ids.count(i) > 1}))
    page = bob.get(f"{BASE}/{number}").text
    assert "<strong>cache</strong>" in page
    assert "Add a canary stage" in page
    for label in ("Post-mortems", "My action items", "Follow-through", "Post-mortem settings"):
        assert f">{label}</a>" in page
    # The team home carries the follow-through widget.
    home = bob.get("/t/alpha/").text
    assert "Post-mortem follow-through" in home
    assert f'href="{BASE}/dashboard"' in home


def test_the_export_is_markdown(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world, summary="Cold cache.")
    response = browser("vera").get(f"{BASE}/{number}/export.md")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "Checkout errors after deploy" in response.text
    assert "Cold cache." in response.text


def test_a_viewer_sees_no_forms_and_is_refused_every_change(
    app: FastAPI, browser: Browser, pm_world: World
) -> None:
    number = make_postmortem(pm_world)
    make_item(pm_world, number)
    vera = browser("vera")
    for path in ("/", f"/{number}", "/settings"):
        page = vera.get(BASE + path).text
        assert "hx-post" not in page, path
        # The only form that changes anything is the shell's "Log out".
        assert page.count('method="post"') == page.count('method="post" action="/logout"'), path
    writes = [(m, url) for m, url in postmortem_routes(app) if m == "POST"]
    assert len(writes) >= 20
    for _, url in writes:
        response = send(vera, url.replace("/1/", f"/{number}/"), htmx=True)
        assert response.status_code == 403, (url, response.status_code)
    # Nothing changed.
    with session_scope(pm_world.ctx.sessions) as session:
        assert session.scalar(select(ActionItem.status)) == "open"


def test_another_team_gets_404_on_every_page(
    app: FastAPI, browser: Browser, pm_world: World
) -> None:
    number = make_postmortem(pm_world)
    make_item(pm_world, number)
    carol = browser("carol")
    routes = postmortem_routes(app)
    assert len(routes) >= 25
    for method, url in routes:
        url = url.replace("/1/", f"/{number}/")
        if method == "POST":
            status = send(carol, url, htmx=True).status_code
        else:
            status = carol.get(url).status_code
        assert status == 404, (method, url, status)


def test_the_filters_swap_the_table(browser: Browser, pm_world: World) -> None:
    first = make_postmortem(pm_world, title="Database failover", severity="sev1")
    make_postmortem(pm_world, title="Slow search", severity="sev3")
    late = make_postmortem(pm_world, title="Expired certificate", severity="sev3")
    # An item created 40 days ago, due at the end of that sprint: overdue now.
    make_item(pm_world, late, deadline="sprint+0", now=utcnow() - timedelta(days=40))
    with session_scope(pm_world.ctx.sessions) as session:
        mortem = session.scalars(select(PostMortem).where(PostMortem.number == first)).one()
        mortem.status = "published"
    bob = browser("bob")
    headers = {"HX-Request": "true", "HX-Target": "pm-table"}

    def titles(query: str) -> set[str]:
        response = bob.get(f"{BASE}/?{query}", headers=headers)
        assert response.status_code == 200
        assert "<html" not in response.text  # only the table
        assert response.text.lstrip().startswith('<div id="pm-table"')
        found = {"Database failover", "Slow search", "Expired certificate"}
        return {title for title in found if title in response.text}

    assert titles("") == {"Database failover", "Slow search", "Expired certificate"}
    assert titles("severity=sev3") == {"Slow search", "Expired certificate"}
    assert titles("status=published") == {"Database failover"}
    assert titles("status=draft&severity=sev3") == {"Slow search", "Expired certificate"}
    assert titles("overdue=true") == {"Expired certificate"}
    assert (
        "No post-mortem matches these filters"
        in bob.get(f"{BASE}/?severity=sev4", headers=headers).text
    )
    # A normal visit with filters in the address gets the whole page, filters set.
    page = bob.get(f"{BASE}/?severity=sev1").text
    assert "<html" in page
    assert '<option value="sev1" selected>' in page
    assert "Slow search" not in page


def test_unknown_numbers_are_answered_as_such(browser: Browser, pm_world: World) -> None:
    make_postmortem(pm_world)
    bob = browser("bob")
    assert bob.get(f"{BASE}/7").status_code == 404
    # Out of the database's range, or not a number at all: the address is wrong, not the server.
    assert bob.get(f"{BASE}/99999999999").status_code == 422
    assert bob.get(f"{BASE}/0").status_code == 422
    huge = send(bob, f"{BASE}/1/items/99999999999/done", {"evidence_note": "x"}, htmx=True)
    assert huge.status_code == 422
    # In an htmx request the error lands in the page's message area, never a stack trace.
    missing = send(bob, f"{BASE}/7/items", {"title": "x"}, htmx=True)
    assert missing.status_code == 404
    assert missing.headers["HX-Retarget"] == "#flash"
    assert "No such post-mortem" in missing.text


# -- creating and editing -----------------------------------------------------------------


def test_a_member_creates_a_post_mortem(browser: Browser, pm_world: World) -> None:
    bob = browser("bob")
    data = {
        "title": "Queue backlog",
        "severity": "sev2",
        "incident_started_at": "2026-01-12T08:30",
        "incident_ended_at": "2026-01-12T10:00",
        "summary": "Workers stalled.",
    }
    response = send(bob, f"{BASE}/", data)
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/1"
    page = bob.get(f"{BASE}/1").text
    assert "PM-1 · Queue backlog" in page
    assert "Workers stalled." in page
    assert '<time datetime="2026-01-12T08:30:00+00:00">' in page
    # Refused: the form comes back with the error beside the field and what was typed.
    refused = send(bob, f"{BASE}/", {**data, "title": "  ", "summary": "kept"})
    assert refused.status_code == 422
    assert field_error(refused.text, "new-title")
    assert ">kept</textarea>" in refused.text


def test_sections_render_markdown_inert(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    bob = browser("bob")
    evil = (
        "<script>alert('x')</script>\n\n"
        "[click me](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**"
    )
    response = send(bob, f"{BASE}/{number}/sections/impact", {"text": evil}, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="pm-sections"')
    for body in (response.text, bob.get(f"{BASE}/{number}").text):
        assert "<script>alert" not in body
        assert "&lt;script&gt;" in body
        assert "javascript:" not in body.replace("javascript:alert(1)</textarea>", "").replace(
            "(javascript:alert(1))", ""
        )
        assert "<img" not in body
        assert "<strong>bold</strong>" in body
    # An unknown section is not a field anyone can write to.
    assert send(bob, f"{BASE}/{number}/sections/title", {"text": "x"}, htmx=True).status_code == 404


def test_header_edits_and_review_flow(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    bob, alice = browser("bob"), browser("alice")
    url = f"{BASE}/{number}"
    changed = send(
        bob,
        f"{url}/header",
        {
            "title": "Checkout errors",
            "severity": "sev1",
            "incident_started_at": "2026-01-10T09:00",
            "incident_ended_at": "2026-01-10T08:00",
            "author_ids": str(pm_world.people["bob"].id),
        },
        htmx=True,
    )
    # The window ends before it starts: refused in place.
    assert changed.status_code == 422
    assert changed.text.lstrip().startswith('<div id="pm-header"')
    assert 'role="alert"' in changed.text
    changed = send(
        bob,
        f"{url}/header",
        {
            "title": "Checkout errors",
            "severity": "sev1",
            "incident_started_at": "2026-01-10T09:00",
            "incident_ended_at": "2026-01-10T11:00",
            "author_ids": str(pm_world.people["bob"].id),
        },
        htmx=True,
    )
    assert changed.status_code == 200, changed.text
    assert "PM-1 · Checkout errors" in changed.text
    assert "SEV1" in changed.text

    # Bob wrote it, so he cannot review it; Alice can.
    page = bob.get(url).text
    reviewer_select = re.search(r'<select id="review-reviewer_id".*?</select>', page, re.S)
    assert reviewer_select is not None
    assert "Alice" in reviewer_select.group(0)
    assert "Bob" not in reviewer_select.group(0)
    alice_id = str(pm_world.people["alice"].id)
    requested = send(bob, f"{url}/review/request", {"reviewer_id": alice_id}, htmx=True)
    assert requested.status_code == 200
    assert "Review requested." in requested.text
    # Only the reviewer is offered Approve; the server refuses anyone else.
    assert "/review/approve" not in bob.get(url).text
    assert "/review/approve" in alice.get(url).text
    refused = send(bob, f"{url}/review/approve", htmx=True)
    assert refused.status_code in (403, 409, 422)
    assert 'role="alert"' in refused.text
    assert send(bob, f"{url}/review/publish", htmx=True).status_code in (409, 422)
    approved = send(alice, f"{url}/review/approve", htmx=True)
    assert approved.status_code == 200
    assert "approved by Alice" in approved.text
    published = send(bob, f"{url}/review/publish", htmx=True)
    assert published.status_code == 200
    assert "Published" in published.text
    assert "/review/" not in bob.get(url).text


def test_timeline_and_links(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    bob = browser("bob")
    url = f"{BASE}/{number}"
    added = send(
        bob,
        f"{url}/timeline",
        {"occurred_at": "2026-01-10T09:05", "text": "Alerts fired"},
        htmx=True,
    )
    assert added.status_code == 200
    assert added.text.lstrip().startswith('<section id="pm-timeline"')
    assert "Alerts fired" in added.text
    missing = send(bob, f"{url}/timeline", {"occurred_at": "", "text": "x"}, htmx=True)
    assert missing.status_code == 422
    assert field_error(missing.text, "timeline-occurred_at")
    entry = re.search(r'id="timeline-(\d+)"', added.text)
    assert entry is not None
    removed = send(bob, f"{url}/timeline/{entry.group(1)}/delete", htmx=True)
    assert removed.status_code == 200
    assert "Alerts fired" not in removed.text

    bad = send(bob, f"{url}/links", {"title": "x", "url": "javascript:alert(1)"}, htmx=True)
    assert bad.status_code == 422
    assert field_error(bad.text, "link-url")
    good = send(bob, f"{url}/links", {"title": "Dashboard", "url": "https://grafana.example/d/1"})
    assert good.status_code == 200
    assert (
        '<a href="https://grafana.example/d/1" rel="noopener nofollow">Dashboard</a>' in good.text
    )
    link = re.search(r'id="link-(\d+)"', good.text)
    assert link is not None
    assert "Dashboard" not in send(bob, f"{url}/links/{link.group(1)}/delete", htmx=True).text


# -- action items -------------------------------------------------------------------------


def test_the_fourth_item_is_refused_inline_with_the_parking_lot(
    browser: Browser, pm_world: World
) -> None:
    number = make_postmortem(pm_world)
    bob = browser("bob")
    for title in ("Add a canary stage", "Alert on error rate", "Runbook for rollback"):
        response = add_item_form(bob, number, pm_world, title)
        assert response.status_code == 200, response.text
    refused = add_item_form(bob, number, pm_world, "Rewrite the deploy tool")
    assert refused.status_code == 422
    body = refused.text
    assert body.lstrip().startswith('<div id="pm-followup"')
    alert = re.search(
        r'<div class="alert alert-error pm-refusal" role="alert".*?</div>', body, re.S
    )
    assert alert is not None
    assert "parking lot" in alert.group(0)
    assert "already has 3 action items" in html.unescape(alert.group(0))
    # The parking-lot form is right there, holding what was typed.
    assert f'hx-post="{BASE}/{number}/ideas"' in body
    assert ">Rewrite the deploy tool</textarea>" in body
    moved = send(bob, f"{BASE}/{number}/ideas", {"text": "Rewrite the deploy tool"}, htmx=True)
    assert moved.status_code == 200
    assert "In the parking lot." in moved.text
    assert re.search(r'<li id="idea-\d+">\s*<span>Rewrite the deploy tool</span>', moved.text)
    with session_scope(pm_world.ctx.sessions) as session:
        assert len(session.scalars(select(ActionItem)).all()) == 3


def test_item_actions_in_place(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    item_id = make_item(pm_world, number)
    bob = browser("bob")
    url = f"{BASE}/{number}/items/{item_id}"

    # No evidence: refused beside the form, which stays unfolded.
    refused = send(bob, f"{url}/done", {}, htmx=True)
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<div id="pm-followup"')
    assert 'role="alert"' in refused.text
    assert "<details open>" in refused.text

    moved = send(
        bob, f"{url}/extend", {"deadline": "sprint+2", "reason": "Bigger than it looked"}, htmx=True
    )
    assert moved.status_code == 200, moved.text
    assert "The deadline is now" in moved.text
    assert send(bob, f"{url}/extend", {"deadline": "sprint+3"}, htmx=True).status_code == 422

    alice_id = str(pm_world.people["alice"].id)
    owner = send(bob, f"{url}/owner", {"owner_id": alice_id}, htmx=True)
    assert owner.status_code == 200
    assert "Alice owns it now." in owner.text
    vera_id = str(pm_world.people["vera"].id)
    assert send(bob, f"{url}/owner", {"owner_id": vera_id}, htmx=True).status_code == 422

    issue = "https://github.com/acme/shop/issues/12"
    linked = send(bob, f"{url}/tracker", {"url": issue}, htmx=True)
    assert linked.status_code == 200
    assert f'<a href="{issue}" rel="noopener nofollow">' in linked.text

    done = send(
        bob,
        f"{url}/done",
        {"evidence_url": "https://github.com/acme/shop/pull/13", "evidence_note": "Canary on"},
        htmx=True,
    )
    assert done.status_code == 200
    assert "Marked done." in done.text
    assert "“Canary on”" in done.text
    reopened = send(bob, f"{url}/reopen", {"reason": "Canary was removed"}, htmx=True)
    assert reopened.status_code == 200, reopened.text
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    parked = send(bob, f"{url}/deprioritize", {"reason": "", "revisit_on": tomorrow}, htmx=True)
    assert parked.status_code == 422
    parked = send(
        bob, f"{url}/deprioritize", {"reason": "Platform work first", "revisit_on": tomorrow}
    )
    assert parked.status_code == 200
    assert "Platform work first" in parked.text

    page = bob.get(f"{BASE}/{number}").text
    for label in (
        "Created",
        "Deadline moved",
        "Owner changed",
        "Tracker issue linked",
        "Marked done",
        "Reopened",
        "Deprioritized",
    ):
        assert f"{label} by " in page, label
    with session_scope(pm_world.ctx.sessions) as session:
        kinds = session.scalars(select(ItemHistory.kind).order_by(ItemHistory.id)).all()
    assert kinds[0] == "created" and kinds[-1] == "deprioritized"

    # An item of another post-mortem is not reachable through this one.
    other = make_postmortem(pm_world, title="Other")
    wrong = send(bob, f"{BASE}/{other}/items/{item_id}/done", {"evidence_note": "x"}, htmx=True)
    assert wrong.status_code == 404


def test_my_action_items_put_escalated_and_overdue_first(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    calm = make_item(pm_world, number, title="Calm item")
    late = make_item(
        pm_world, number, title="Late item", deadline="sprint+0", now=utcnow() - timedelta(days=40)
    )
    hot = make_item(pm_world, number, title="Escalated item")
    with session_scope(pm_world.ctx.sessions) as session:
        session.get_one(ActionItem, hot).escalated_at = utcnow()
    page = browser("bob").get(f"{BASE}/mine").text
    positions = [page.index(title) for title in ("Escalated item", "Late item", "Calm item")]
    assert positions == sorted(positions)
    assert f'href="{BASE}/{number}#item-{late}"' in page
    assert f"#item-{calm}" in page
    assert "escalated</span>" in page and "overdue</span>" in page
    assert "Nothing open here." not in page
    # Alice owns none of them; carol, in beta only, sees beta alone.
    assert "Nothing open here." in browser("alice").get(f"{BASE}/mine").text
    beta = browser("carol").get("/t/beta/postmortems/mine").text
    assert "Calm item" not in beta
    assert '<h2 id="team-beta-title">Beta</h2>' in beta
    assert "team-alpha-title" not in beta


def test_dashboard_shows_the_figures(browser: Browser, pm_world: World) -> None:
    number = make_postmortem(pm_world)
    item_id = make_item(pm_world, number)
    with session_scope(pm_world.ctx.sessions) as session:
        item = session.get_one(ActionItem, item_id)
        item.status, item.done_at = DONE, utcnow()
    page = browser("vera").get(f"{BASE}/dashboard").text
    assert "100%" in page  # done on time
    assert "1 of 1 due" in page
    assert page.count('<th scope="row"') == 6


# -- settings -----------------------------------------------------------------------------


def test_owners_change_the_settings_and_others_read_them(browser: Browser, pm_world: World) -> None:
    alice, bob = browser("alice"), browser("bob")
    data = {
        "escalate_after_sprints": "3",
        "max_extensions": "1",
        "reminder_days": "4",
        "team_lead_id": str(pm_world.people["alice"].id),
        "escalation_contact_id": str(pm_world.people["bob"].id),
        "drafts_from_alerts": "true",
    }
    saved = send(alice, f"{BASE}/settings", data, htmx=True)
    assert saved.status_code == 200, saved.text
    assert saved.text.lstrip().startswith('<section id="pm-rules"')
    assert "Saved." in saved.text
    with session_scope(pm_world.ctx.sessions) as session:
        row = session.get_one(TeamSettings, pm_world.teams["alpha"].id)
        assert (row.escalate_after_sprints, row.max_extensions, row.reminder_days) == (3, 1, 4)
        assert row.drafts_from_alerts
    refused = send(alice, f"{BASE}/settings", {**data, "escalate_after_sprints": "40"}, htmx=True)
    assert refused.status_code == 422
    assert field_error(refused.text, "rules-escalate_after_sprints")
    vera_id = str(pm_world.people["vera"].id)
    refused = send(alice, f"{BASE}/settings", {**data, "team_lead_id": vera_id}, htmx=True)
    assert refused.status_code == 422

    page = bob.get(f"{BASE}/settings").text
    assert "<dd>3 sprints</dd>" in page
    assert "<dd>Alice</dd>" in page
    assert 'action="/t/alpha/postmortems/settings"' not in page
    assert 'href="/t/alpha/settings"' in page
    assert "Sprint " in page
    assert send(bob, f"{BASE}/settings", data, htmx=True).status_code == 403
