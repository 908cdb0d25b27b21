"""Every page renders for the roles that may see it, and for nobody else."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import World

PAGES_FOR_EVERY_MEMBER = ["/", "/account", "/teams/new", "/t/alpha/", "/t/alpha/settings"]


def test_pages_render_for_everyone_in_the_team(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    for who in ("alice", "bob", "vera", "root"):
        browser = signed_in(who)
        for url in [*PAGES_FOR_EVERY_MEMBER, "/t/alpha/fixture/"]:
            response = browser.get(url)
            assert response.status_code == 200, (who, url, response.text)
            assert response.headers["content-type"].startswith("text/html")
            assert "<main" in response.text
            assert response.headers["cache-control"] == "no-store"


AUDIT_ACCESS = [
    ("alice", "/t/alpha/audit", 200),
    ("root", "/t/alpha/audit", 200),
    ("bob", "/t/alpha/audit", 403),
    ("vera", "/t/alpha/audit", 403),
    ("root", "/admin/audit", 200),
    ("alice", "/admin/audit", 403),
]


def test_audit_logs_are_for_owners_and_site_admins(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    browsers = {who: signed_in(who) for who in ("alice", "bob", "vera", "root")}
    for who, url, status in AUDIT_ACCESS:
        response = browsers[who].get(url)
        assert response.status_code == status, (who, url, response.text)
        if status == 200:
            assert "team.member_added" in response.text
        else:
            assert "Not allowed" in response.text


def test_other_teams_look_as_if_they_did_not_exist(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    carol = signed_in("carol")
    for url in [
        "/t/alpha/",
        "/t/alpha/settings",
        "/t/alpha/audit",
        "/t/alpha/fixture/",
        "/t/nope/",
    ]:
        response = carol.get(url)
        assert response.status_code == 404, url
        assert "Not found" in response.text
        assert "Alpha" not in response.text


def test_a_disabled_plugin_page_is_a_404_page(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    from opsyard.db.engine import session_scope
    from opsyard.teams import service as teams

    with session_scope(world.ctx.sessions) as session:
        teams.disable_plugin(
            session, team=session.merge(world.teams["alpha"]), plugin="fixture", actor=None
        )
    response = signed_in("alice").get("/t/alpha/fixture/")
    assert response.status_code == 404
    assert "fixture is not enabled" in response.text


def test_the_dashboard_lists_my_teams_and_admins_see_all(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    alice = signed_in("alice").get("/").text
    assert 'href="/t/alpha/"' in alice
    assert 'href="/t/beta/"' not in alice
    assert 'href="/teams/new"' in alice
    root = signed_in("root").get("/").text
    assert 'href="/t/alpha/"' in root and 'href="/t/beta/"' in root
    assert "All teams" in root


def test_the_navigation_follows_the_role_and_marks_the_current_page(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    owner = signed_in("alice").get("/t/alpha/fixture/").text
    nav = _team_nav(owner)
    assert '<a href="/t/alpha/fixture/" aria-current="page" data-plugin="fixture">Notes</a>' in nav
    assert "Note admin" in nav
    assert 'href="/t/alpha/audit"' in nav
    viewer = _team_nav(signed_in("vera").get("/t/alpha/").text)
    assert '<a href="/t/alpha/" aria-current="page">Overview</a>' in viewer
    assert "Notes" in viewer
    assert "Note admin" not in viewer
    assert "Audit log" not in viewer


def test_the_team_switcher_offers_only_my_teams(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    page = signed_in("carol").get("/t/beta/").text
    switcher = page[page.index('<details class="switcher">') : page.index("</details>")]
    assert 'href="/t/beta/" aria-current="true"' in switcher
    assert "/t/alpha/" not in switcher


def test_team_home_shows_plugin_widgets_and_members(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    page = signed_in("bob").get("/t/alpha/").text
    # The widget's html is the plugin's own markup, inserted as is (not escaped).
    assert '<article class="card widget" data-plugin="fixture"' in page
    assert "<p>0 notes</p>" in page
    assert "3 members: 1 owner, 1 member, 1 viewer." in page


def test_plugin_templates_extend_the_layout_and_plugin_static_files_are_served(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    browser = signed_in("bob")
    page = browser.get("/t/alpha/fixture/")
    assert page.status_code == 200
    assert "<h1>Fixture notes</h1>" in page.text
    assert "<title>Notes · Alpha · opsyard</title>" in page.text
    assert 'id="team-nav"' in page.text
    dot = browser.get("/static/plugins/fixture/dot.svg")
    assert dot.status_code == 200
    assert dot.text.startswith("<svg")


def test_every_page_has_landmarks_and_one_h1(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    browser = signed_in("alice")
    for url in [*PAGES_FOR_EVERY_MEMBER, "/t/alpha/audit", "/t/alpha/fixture/"]:
        page = browser.get(url).text
        assert '<html lang="en">' in page
        assert '<header class="site-header">' in page
        assert '<main id="main"' in page
        assert '<nav class="account-nav" aria-label="Account">' in page
        assert len(re.findall(r"<h1[ >]", page)) == 1, url
        assert 'href="#main"' in page


def _team_nav(page: str) -> str:
    start = page.index('<nav id="team-nav"')
    return page[start : page.index("</nav>", start)]
