"""The synthetics pages, driven like a browser: logged in through the form, changes sent with
the CSRF header htmx sends. Runs are real: the run job probes a loopback target that answers
one location well and the other badly. Members apply checks and plan windows, owners change
the rules, viewers only read, other teams see nothing; the public status page is off until
a team switches it on, and then shows states only."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opsyard.config import Settings
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from opsyard_synthetics import demo, execution, service
from opsyard_synthetics.models import Check, MaintenanceWindow, Run, Schedule, TeamSettings
from tests.conftest import World
from tests.core.routes import endpoints
from tests.plugins.synthetics.target import LoopbackTarget
from tests.web.conftest import login, send

BASE = "/t/alpha/synthetics"
Browser = Callable[[str], TestClient]
PAGES = ("/", "/checks/checkout", "/code", "/maintenance", "/secrets", "/settings")


def checks_yaml(target: LoopbackTarget) -> str:
    return f"""\
version: 1
checks:
  - name: checkout
    kind: http
    critical: true
    locations: [eu, us]
    thresholds: {{degraded_ms: 1500, failing_ms: 3000}}
    steps:
      - name: home
        url: {target.url("/")}
        assertions:
          - status == 200
          - json("$.status") == "healthy"
  - name: search
    kind: http
    locations: [eu]
    steps:
      - url: {target.url("/")}
"""


@pytest.fixture(scope="module")
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as running:
        yield running


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"locations": "eu,us"})


@pytest.fixture
def checked(syn_world: World, target: LoopbackTarget) -> World:
    """alpha with two checks that have run twice: fine from eu, down (503) from us."""
    target.set_default()
    target.set_location("eu", status=200)
    target.set_location("us", status=503, body='{"status": "broken", "token": "x"}')
    now = utcnow()
    with session_scope(syn_world.ctx.sessions) as session:
        service.apply_checks(
            session,
            portal=syn_world.ctx,
            team=session.merge(syn_world.teams["alpha"]),
            text=checks_yaml(target),
            actor=None,
            now=now - timedelta(minutes=20),
        )
    for minutes in (10, 5):
        run_due(syn_world, now - timedelta(minutes=minutes))
    return syn_world


def run_due(world: World, at: datetime) -> int:
    """What the run job does at each location as of `at`; in a thread of its own, so it gets
    its own event loop even when the browser tests left one running in this thread."""

    def both() -> int:
        return sum(
            execution.run_due(world.ctx, location=location, at=at, limit=50)
            for location in ("eu", "us")
        )

    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(both).result(timeout=60)


@pytest.fixture
def browser(app: FastAPI, syn_world: World) -> Iterator[Browser]:
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


def synthetics_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (endpoint.method, endpoint.url("alpha", name="checkout"))
        for endpoint in endpoints(app)
        if endpoint.template.startswith("/t/{team}/synthetics")
    ]


def grid_row(page: str, name: str) -> str:
    found = re.search(
        rf'<tr>\s*<th scope="row" data-label="Check"><a href="{BASE}/checks/{name}">.*?</tr>',
        page,
        re.S,
    )
    assert found, f"no grid row for {name}"
    return found.group(0)


def field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def set_public(world: World, on: bool, team: str = "alpha") -> None:
    with session_scope(world.ctx.sessions) as session:
        service.update_settings(
            session,
            team=session.merge(world.teams[team]),
            actor=None,
            public_status_page=on,
            failure_threshold=2,
            success_threshold=2,
            retention_days=14,
        )


# -- reading ------------------------------------------------------------------------------


def test_every_page_renders_for_a_member(browser: Browser, checked: World) -> None:
    bob = browser("bob")
    for path in PAGES:
        response = bob.get(BASE + path)
        assert response.status_code == 200, (path, response.text)
        assert "<html" in response.text
        ids = re.findall(r'\sid="([^"]+)"', response.text)
        assert len(ids) == len(set(ids)), (path, sorted({i for i in ids if ids.count(i) > 1}))
    page = bob.get(BASE + "/").text
    for label in ("Synthetic checks", "Checks as code", "Maintenance windows", "Secrets"):
        assert f">{label}</a>" in page
    # The team home carries the panel.
    home = bob.get("/t/alpha/").text
    widget = home.split('data-plugin="synthetics" aria-labelledby')[1].split("</article>")[0]
    for line in ("check failing", "check ok", "open alert: checkout"):
        assert f'<strong>1</strong> <span class="muted">{line}</span>' in widget


def test_the_grid_shows_each_locations_last_outcome_in_words(
    browser: Browser, checked: World
) -> None:
    page = browser("vera").get(BASE + "/").text
    checkout = grid_row(page, "checkout")
    # Worst, eu, us: each state is written out beside its colour.
    assert re.findall(r'class="syn-state syn-(\w+)">([^<]+)<', checkout) == [
        ("failing", "Failing"),
        ("ok", "OK"),
        ("failing", "Failing"),
    ]
    search = grid_row(page, "search")
    assert "Not run here" in search  # search runs from eu only
    assert 'syn-state syn-ok">OK<' in search
    # The locations panel names both, and when they last reported.
    assert '<th scope="row" data-label="Location">eu</th>' in page
    assert "no worker has reported yet" in page


def test_the_status_filter_swaps_the_grid(browser: Browser, checked: World) -> None:
    bob = browser("bob")
    headers = {"HX-Request": "true", "HX-Target": "grid"}
    failing = bob.get(BASE + "/?status=failing", headers=headers).text
    assert "<html" not in failing and 'id="grid"' in failing
    assert f"{BASE}/checks/checkout" in failing and f"{BASE}/checks/search" not in failing
    fine = bob.get(BASE + "/?status=ok", headers=headers).text
    assert f"{BASE}/checks/search" in fine and f"{BASE}/checks/checkout" not in fine
    none = bob.get(BASE + "/?status=degraded", headers=headers).text
    assert "No check is degraded now" in none
    # An unknown status shows everything.
    everything = bob.get(BASE + "/?status=purple").text
    assert f"{BASE}/checks/search" in everything and f"{BASE}/checks/checkout" in everything


def test_the_check_page_has_the_chart_runs_failures_and_percentiles(
    browser: Browser, checked: World
) -> None:
    page = browser("vera").get(BASE + "/checks/checkout").text
    # The chart is inline SVG: no script, no image from elsewhere.
    svg = re.search(r"<svg .*?</svg>", page, re.S)
    assert svg and 'role="img"' in svg.group(0)
    assert "Response time of checkout, last 24 hours" in svg.group(0)
    assert svg.group(0).count('class="series"') == 2  # eu and us
    assert "<script" not in svg.group(0)
    # Percentiles for all locations and each one, over each window.
    for location in ("All locations", "eu", "us"):
        assert f'<th scope="row" data-label="Location">{location}</th>' in page
    assert re.search(r"\d+ ms / \d+ ms / \d+ ms <span class=\"muted\">\(4 runs\)", page)
    # Four runs, each folded in <details> with its phases and redacted excerpt.
    assert page.count('<details class="syn-run">') == 4
    assert "First byte" in page and "Response excerpt (secrets redacted)" in page
    assert '{"status": "broken", "token": "x"}' in html.unescape(page)
    # The failed assertions of us's runs, with what was seen.
    failures = page.split('id="failures-title"')[1].split("</section>")[0]
    assert failures.count("<tr>") == 1 + 4  # the header, then both assertions of us, twice
    assert "status == 200" in failures and "503" in failures
    assert "Definition" in page and "TCP" not in page and "home: GET http://127.0.0.1" in page
    # Each run says which slot it ran for and how late it started; a second or more stands out.
    assert page.count('<p class="muted syn-slot">For the slot at ') == 4
    with session_scope(checked.ctx.sessions) as session:
        check_id = session.scalars(select(Check.id).where(Check.name == "checkout")).one()
        lags = session.scalars(select(Run.lag_ms).where(Run.check_id == check_id)).all()
    assert page.count("ms after it.</p>") == 4
    late = sum(1 for lag in lags if lag >= 1000)
    assert page.count('<span class="badge badge-warn">started ') == late


def test_the_window_switch_swaps_only_the_chart(browser: Browser, checked: World) -> None:
    bob = browser("bob")
    answer = bob.get(
        BASE + "/checks/checkout?window=1h", headers={"HX-Request": "true", "HX-Target": "chart"}
    ).text
    assert "<html" not in answer and answer.lstrip().startswith('<div id="chart">')
    assert "Response time of checkout, last 1 hour" in answer
    assert (
        'window=1h" hx-target="#chart" hx-swap="outerHTML" hx-push-url="true" aria-current'
        in answer
    )
    week = bob.get(BASE + "/checks/checkout?window=7d").text
    assert "last 7 days" in week and "<html" in week
    # An unknown window falls back to 24 hours.
    assert "last 24 hours" in bob.get(BASE + "/checks/checkout?window=1y").text


def test_an_unknown_check_is_404(browser: Browser, checked: World) -> None:
    assert browser("bob").get(BASE + "/checks/nope").status_code == 404


def test_the_alert_shows_on_the_overview_and_in_the_history(
    browser: Browser, checked: World
) -> None:
    # us failed twice (the failure threshold); checkout is critical with a 1-location quorum.
    bob = browser("bob")
    overview = bob.get(BASE + "/").text
    alerts = overview.split('id="alerts-title">Open alerts</h2>')[1].split("</section>")[0]
    assert f'<a href="{BASE}/checks/checkout">checkout</a>' in alerts
    assert "Paged" in alerts and ">us<" in alerts
    history = bob.get(BASE + "/checks/checkout").text.split('id="alerts-title"')[1]
    assert "Paged" in history and 'badge badge-bad">open' in history
    assert "This check has never alerted." in bob.get(BASE + "/checks/search").text


# -- checks as code -----------------------------------------------------------------------


def test_a_dry_run_shows_the_diff_and_applies_nothing(
    browser: Browser, checked: World, target: LoopbackTarget
) -> None:
    bob = browser("bob")
    exported = bob.get(BASE + "/code").text
    assert "checkout" in exported and 'name="text"' in exported
    text = checks_yaml(target).replace("  - name: search\n", "  - name: search-v2\n")
    answer = send(bob, BASE + "/code/preview", {"text": text}, htmx=True, target="code")
    assert answer.status_code == 200
    page = answer.text
    assert "<html" not in page
    assert "Dry run: applying this file would make these changes." in page
    assert '<span class="badge badge-on">create</span> search-v2' in page
    assert '<span class="badge badge-bad">remove</span> search' in page
    assert "unchanged</span> checkout" in page
    assert "Apply these changes" in page
    with session_scope(checked.ctx.sessions) as session:
        names = set(session.scalars(select(Check.name)))
    assert names == {"checkout", "search"}

    applied = send(bob, BASE + "/code/apply", {"text": text}, htmx=True, target="code")
    assert applied.status_code == 200
    assert "Applied." in applied.text and "Apply these changes" not in applied.text
    with session_scope(checked.ctx.sessions) as session:
        names = set(session.scalars(select(Check.name)))
    assert names == {"checkout", "search-v2"}


def test_an_invalid_file_lists_each_problem_with_its_line(browser: Browser, checked: World) -> None:
    bob = browser("bob")
    text = "version: 1\nchecks:\n  - name: Bad Name\n    kind: http\n    steps: []\n"
    answer = send(bob, BASE + "/code/preview", {"text": text}, htmx=True, target="code")
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    assert 'role="alert"' in page and "refused whole" in page
    problems = re.findall(r"<li><code>([^<]+)</code>: ([^<]+)</li>", page)
    assert problems, page
    assert all("line " in detail for _, detail in problems)
    assert any(pointer == "/checks/0/name" for pointer, _ in problems)
    # What was typed stays, to be fixed.
    assert "Bad Name" in page and 'aria-invalid="true"' in page
    # Applying the same file refuses it whole too.
    refused = send(bob, BASE + "/code/apply", {"text": text}, htmx=True, target="code")
    assert refused.status_code == 422
    with session_scope(checked.ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 2


def test_the_export_downloads_as_yaml(browser: Browser, checked: World) -> None:
    answer = browser("vera").get(BASE + "/code/checks.yaml")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/yaml")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.text.startswith("version: 1") and "name: checkout" in answer.text


# -- maintenance and settings -------------------------------------------------------------


def test_a_member_plans_and_removes_a_maintenance_window(browser: Browser, checked: World) -> None:
    bob = browser("bob")
    answer = send(
        bob,
        BASE + "/maintenance",
        {
            "starts_at": "2030-05-01T22:00",
            "ends_at": "2030-05-01T23:30",
            "check": "checkout",
            "reason": "Database upgrade",
        },
        htmx=True,
        target="windows",
    )
    assert answer.status_code == 200, answer.text
    assert "Window planned" in answer.text and "Database upgrade" in answer.text
    with session_scope(checked.ctx.sessions) as session:
        window = session.scalars(select(MaintenanceWindow)).one()
        assert window.starts_at.hour == 22 and window.check_id is not None
        window_id = window.id
    # The end before the start is refused beside the field, with what was typed kept.
    refused = send(
        bob,
        BASE + "/maintenance",
        {"starts_at": "2030-05-02T10:00", "ends_at": "2030-05-02T09:00", "check": ""},
        htmx=True,
        target="windows",
    )
    assert refused.status_code == 422
    assert "after the start" in field_error(refused.text, "window-ends_at")
    assert 'value="2030-05-02T10:00"' in refused.text
    garbled = send(bob, BASE + "/maintenance", {"starts_at": "soon", "ends_at": ""}, htmx=True)
    assert garbled.status_code == 422
    assert "such as" in field_error(garbled.text, "window-starts_at")
    removed = send(bob, f"{BASE}/maintenance/{window_id}/delete", htmx=True, target="windows")
    assert removed.status_code == 200 and "Window removed." in removed.text
    with session_scope(checked.ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0


def test_owners_change_the_rules_and_members_only_read_them(
    browser: Browser, checked: World
) -> None:
    bob = browser("bob")
    page = bob.get(BASE + "/settings").text
    assert 'action="/t/alpha/synthetics/settings"' not in page and "Team owners change" in page
    values = {
        "failure_threshold": "3",
        "success_threshold": "1",
        "retention_days": "30",
        "public_status_page": "true",
    }
    assert send(bob, BASE + "/settings", values, htmx=True).status_code == 403
    alice = browser("alice")
    saved = send(alice, BASE + "/settings", values, htmx=True, target="rules")
    assert saved.status_code == 200 and "Saved." in saved.text
    with session_scope(checked.ctx.sessions) as session:
        rules = session.get(TeamSettings, checked.teams["alpha"].id)
        assert rules is not None
        assert (rules.failure_threshold, rules.retention_days, rules.public_status_page) == (
            3,
            30,
            True,
        )
    bad = send(alice, BASE + "/settings", {**values, "failure_threshold": "0"}, htmx=True)
    assert bad.status_code == 422
    assert "1 to 10" in field_error(bad.text, "rules-failure_threshold")
    nonsense = send(alice, BASE + "/settings", {**values, "retention_days": "a week"}, htmx=True)
    assert "whole number" in field_error(nonsense.text, "rules-retention_days")


# -- who may do what ----------------------------------------------------------------------


def test_a_viewer_sees_no_forms_and_is_refused_every_change(
    app: FastAPI, browser: Browser, checked: World
) -> None:
    vera = browser("vera")
    for path in PAGES:
        page = vera.get(BASE + path).text
        assert "hx-post" not in page, path
        assert page.count('method="post"') == page.count('method="post" action="/logout"'), path
        assert "<textarea" not in page, path
    writes = [(m, url) for m, url in synthetics_routes(app) if m == "POST"]
    assert len(writes) >= 5
    for _, url in writes:
        response = send(vera, url, {"text": "version: 1\nchecks: []\n"}, htmx=True)
        assert response.status_code == 403, (url, response.status_code)
    with session_scope(checked.ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 2


def test_another_team_gets_404_on_every_page(
    app: FastAPI, browser: Browser, checked: World
) -> None:
    carol = browser("carol")
    routes = synthetics_routes(app)
    assert len(routes) >= 11
    for method, url in routes:
        if method == "POST":
            status = send(carol, url, {"text": "version: 1\nchecks: []\n"}, htmx=True).status_code
        else:
            status = carol.get(url).status_code
        assert status == 404, (method, url, status)
    with session_scope(checked.ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 2


def test_a_team_without_the_plugin_gets_404(browser: Browser, checked: World) -> None:
    with session_scope(checked.ctx.sessions) as session:
        teams.disable_plugin(
            session, team=session.merge(checked.teams["alpha"]), plugin="synthetics", actor=None
        )
    assert browser("bob").get(BASE + "/").status_code == 404


# -- the public status page ---------------------------------------------------------------


def test_the_status_page_is_404_until_the_team_switches_it_on(
    client: TestClient, checked: World, target: LoopbackTarget
) -> None:
    assert client.get("/status/alpha").status_code == 404
    assert client.get("/status/nobody").status_code == 404
    set_public(checked, True)
    answer = client.get("/status/alpha")
    assert answer.status_code == 200
    page = answer.text
    # The headline is the worst state of the checks.
    assert '<h1>Alpha: <span class="syn-state syn-down">Down</span></h1>' in page
    row = r'<th scope="row" data-label="Check">([^<]+)</th>\s*<td data-label="Now">'
    rows = re.findall(row + r'<span class="syn-state syn-(\w+)">', page)
    # checkout fails from one of its two locations (quorum 1): down; search is fine.
    assert rows == [("checkout", "down"), ("search", "operational")]
    # Each hour half failing is degraded, not down; the strip says so in words too.
    summaries = re.findall(r'<p class="hint">(Last 24 hours: [^<]+)</p>', page)
    assert re.fullmatch(r"Last 24 hours: [12] degraded, 2[23] without data\.", summaries[0])
    assert re.fullmatch(r"Last 24 hours: [12] operational, 2[23] without data\.", summaries[1])
    assert "50.00%" in page and "100.00%" in page
    # Nothing that describes the internals: no address, response, reason or location.
    for secret in (str(target.port), "127.0.0.1", "broken", "status == 200", "503", ">eu<", ">us<"):
        assert secret not in page, secret
    assert "Log out" not in page and "x-csrftoken" not in page
    # beta has not switched it on; a team without the plugin gets nothing either.
    assert client.get("/status/beta").status_code == 404
    with session_scope(checked.ctx.sessions) as session:
        teams.disable_plugin(
            session, team=session.merge(checked.teams["alpha"]), plugin="synthetics", actor=None
        )
    assert client.get("/status/alpha").status_code == 404


def test_the_status_page_looks_the_same_signed_in(browser: Browser, checked: World) -> None:
    set_public(checked, True)
    page = browser("bob").get("/status/alpha").text
    assert "Log out" not in page and "Bob" not in page


# -- demo data ----------------------------------------------------------------------------


def test_the_demo_checks_show_at_once_with_one_degraded(browser: Browser, syn_world: World) -> None:
    with session_scope(syn_world.ctx.sessions) as session:
        alpha = session.merge(syn_world.teams["alpha"])
        users = {
            "owner": session.merge(syn_world.people["alice"]),
            "member": session.merge(syn_world.people["bob"]),
            "viewer": session.merge(syn_world.people["vera"]),
        }
        loaded = utcnow()
        demo.load(session, portal=syn_world.ctx, team=alpha, users=users, now=loaded)
    base_url = syn_world.ctx.settings.base_url.rstrip("/")
    with session_scope(syn_world.ctx.sessions) as session:
        checks = {c.name: c for c in session.scalars(select(Check))}
        assert set(checks) == {"portal-livez", "portal-readyz", "portal-login"}
        for check in checks.values():
            assert check.definition["steps"][0]["url"].startswith(base_url)
        outcomes = dict(
            session.execute(
                select(Check.name, func.count())
                .join(Run, Run.check_id == Check.id)
                .where(Run.outcome == "degraded")
                .group_by(Check.name)
            ).all()
        )
    assert set(outcomes) == {"portal-readyz"}
    bob = browser("bob")
    page = bob.get(BASE + "/").text
    assert 'syn-state syn-degraded">Degraded<' in grid_row(page, "portal-readyz")
    assert 'syn-state syn-ok">OK<' in grid_row(page, "portal-livez")
    login_page = bob.get(BASE + "/checks/portal-login").text
    assert "<svg" in login_page and "503" in login_page  # the one failed run
    assert bob.get("/status/alpha").status_code == 200  # the demo shows its status page

    # The history covers the slots up to when it was loaded, so the first real run misses
    # none of them.
    with session_scope(syn_world.ctx.sessions) as session:
        rows = list(session.scalars(select(Schedule)))
        assert rows and all(r.last_slot_at <= loaded < r.next_slot_at for r in rows)
        before = session.scalar(select(func.count()).select_from(Run))
    latest = max(row.next_slot_at for row in rows)
    assert execution.run_due(syn_world.ctx, location="eu", at=latest, limit=10) == 3
    with session_scope(syn_world.ctx.sessions) as session:
        fresh = session.scalars(select(Run).order_by(Run.id.desc()).limit(3)).all()
        assert session.scalar(select(func.count()).select_from(Run)) == before + 3
    assert [run.missed_slots for run in fresh] == [0, 0, 0]
