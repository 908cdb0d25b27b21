"""The shell in a real browser: login, plugin switches, phone width, tokens."""

from __future__ import annotations

from typing import Any

import pytest

from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from tests.conftest import PASSWORD, World
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def log_in(page: Any, who: str, password: str = PASSWORD, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(f"{who}@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def team_nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Team Alpha")


def notes_link(page: Any) -> Any:
    return team_nav(page).get_by_role("link", name="Notes", exact=True)


def test_switching_a_plugin_on_and_off_from_team_settings(page: Any, world: World) -> None:
    from playwright.sync_api import expect

    with session_scope(world.ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])
        teams.disable_plugin(session, team=alpha, plugin="fixture", actor=None)

    log_in(page, "alice", path="/t/alpha/settings")
    page.wait_for_url("**/t/alpha/settings")
    switch = page.get_by_role("switch", name="Fixture")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(notes_link(page)).to_have_count(0)

    # On: the switch flips and the plugin's entry appears in the navigation ...
    switch.click()
    expect(page.get_by_role("switch", name="Fixture")).to_have_attribute("aria-checked", "true")
    notes = notes_link(page)
    expect(notes).to_be_visible()
    screenshot(page, "settings")

    # ... and leads to the plugin's page, rendered inside the shell's layout.
    notes.click()
    expect(page.get_by_role("heading", name="Fixture notes")).to_be_visible()
    expect(notes_link(page)).to_have_attribute("aria-current", "page")
    screenshot(page, "plugin-page")

    # Off again: the entry is gone and the page answers 404.
    team_nav(page).get_by_role("link", name="Settings").click()
    page.get_by_role("switch", name="Fixture").click()
    expect(page.get_by_role("switch", name="Fixture")).to_have_attribute("aria-checked", "false")
    expect(notes_link(page)).to_have_count(0)
    response = page.goto("/t/alpha/fixture/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    screenshot(page, "not-found")


def test_a_wrong_password_shows_an_error(page: Any, world: World) -> None:
    from playwright.sync_api import expect

    log_in(page, "bob", password="not my password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    expect(page.get_by_label("Email")).to_have_value("bob@example.com")
    screenshot(page, "login-failed")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your teams")).to_be_visible()


PHONE_PAGES = [
    "/",
    "/teams/new",
    "/t/alpha/",
    "/t/alpha/settings",
    "/t/alpha/audit",
    "/t/alpha/fixture/",
    "/account",
]


def assert_fits_the_screen(page: Any, name: str) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    screenshot(page, "phone" + (name.replace("/", "-").rstrip("-") or "-dashboard"))
    assert overflow <= 0, f"{name} is {overflow}px wider than a 375px screen"


def test_no_horizontal_scrolling_at_phone_width(
    browser: Any, live_server: str, world: World
) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto("/login")
        assert_fits_the_screen(page, "/login")
        log_in(page, "alice")
        page.wait_for_url(live_server + "/")
        for path in PHONE_PAGES:
            page.goto(path)
            assert_fits_the_screen(page, path)
        # The team switcher's menu, opened, stays on the screen too.
        page.goto("/t/alpha/")
        page.locator(".switcher summary").click()
        assert_fits_the_screen(page, "/t/alpha/switcher-open")
    finally:
        context.close()


def test_a_new_token_is_shown_once(page: Any, world: World) -> None:
    from playwright.sync_api import expect

    log_in(page, "bob", path="/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Name").fill("e2e laptop")
    page.get_by_label("Expires after (days)").fill("7")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("New token")
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    plaintext = shown.input_value()
    assert plaintext.startswith("opsy_")
    expect(page.get_by_role("cell", name="e2e laptop")).to_be_visible()
    screenshot(page, "token-created")
    page.reload()
    expect(page.get_by_role("cell", name="e2e laptop")).to_be_visible()
    assert plaintext not in page.content()
