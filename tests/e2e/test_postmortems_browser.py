"""Post-mortems in a real browser: write one, give it three action items, see the fourth
refused with the parking lot offered, park the idea, close an item with evidence; and the
page at desktop and phone width."""

from __future__ import annotations

from typing import Any

import pytest

from opsyard.db.engine import session_scope
from opsyard.teams import service as teams
from tests.conftest import World
from tests.e2e.conftest import screenshot
from tests.e2e.test_browser import assert_fits_the_screen, log_in

pytestmark = pytest.mark.browser

PAGES = (
    "/t/alpha/postmortems/",
    "/t/alpha/postmortems/mine",
    "/t/alpha/postmortems/dashboard",
    "/t/alpha/postmortems/settings",
    "/t/alpha/",
)
ITEMS = ("Add a canary stage", "Alert on checkout error rate", "Write the rollback runbook")


@pytest.fixture
def pm_enabled(world: World) -> World:
    with session_scope(world.ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])
        teams.enable_plugin(session, team=alpha, plugin="postmortems", actor=None)
    return world


def add_item(page: Any, title: str) -> None:
    section = page.locator("#items")
    section.get_by_label("Title", exact=True).fill(title)
    section.get_by_label("Owner", exact=True).select_option(label="Bob")
    section.get_by_label("Deadline", exact=True).fill("sprint+1")
    section.get_by_role("button", name="Add action item").click()


def test_a_post_mortem_with_three_items_a_parked_idea_and_one_done(
    page: Any, pm_enabled: World
) -> None:
    from playwright.sync_api import expect

    log_in(page, "bob", path="/t/alpha/postmortems/")
    page.wait_for_url("**/t/alpha/postmortems/")
    page.get_by_role("navigation", name="Team Alpha").get_by_role(
        "link", name="Post-mortems"
    ).wait_for()

    # A new draft, from the list page's form.
    form = page.get_by_role("region", name="New post-mortem")
    form.get_by_label("Title").fill("Checkout errors after the 2.3 deploy")
    form.get_by_label("Severity").select_option("sev2")
    form.get_by_label("Summary").fill("Payments failed for **12 minutes**.")
    form.get_by_role("button", name="Create draft").click()
    page.wait_for_url("**/t/alpha/postmortems/1")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "PM-1 · Checkout errors after the 2.3 deploy"
    )
    expect(page.locator("#section-summary strong")).to_have_text("12 minutes")

    # Three items, each added in place.
    for count, title in enumerate(ITEMS, start=1):
        add_item(page, title)
        expect(page.locator(".pm-item")).to_have_count(count)
        expect(page.locator(".pm-item").nth(count - 1)).to_contain_text(title)
    expect(page.get_by_text("3 of 3", exact=True)).to_be_visible()

    # The fourth is refused; the refusal says why and offers the parking lot, pre-filled.
    page.get_by_text("Add an action item (3 of 3 used)").click()
    add_item(page, "Rewrite the deploy tool")
    refusal = page.locator(".pm-refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("already has 3 action items")
    expect(refusal).to_contain_text("parking lot")
    idea = page.get_by_label("Idea")
    expect(idea).to_be_in_viewport()
    expect(idea).to_have_value("Rewrite the deploy tool")
    screenshot(page, "postmortem-refused")
    page.get_by_role("button", name="Add to the parking lot").click()
    expect(page.locator("#parking-lot li > span")).to_have_text("Rewrite the deploy tool")
    expect(page.locator(".pm-item")).to_have_count(3)

    # The first item is done, with a link as evidence.
    first = page.locator(".pm-item").first
    first.locator("summary", has_text="Mark done").click()
    first.get_by_label("Evidence link").fill("https://github.com/acme/shop/pull/42")
    first.get_by_role("button", name="Mark done").click()
    first = page.locator(".pm-item").first
    expect(first.get_by_role("status")).to_have_text("Marked done.")
    expect(first.locator(".badge").first).to_have_text("done")
    expect(first.get_by_role("link", name="https://github.com/acme/shop/pull/42")).to_be_visible()

    # A reload shows the same: everything was saved, not only swapped in.
    page.reload()
    expect(page.locator(".pm-item").first.locator(".badge").first).to_have_text("done")
    expect(page.locator("#parking-lot")).to_contain_text("Rewrite the deploy tool")
    screenshot(page, "postmortem-1280")
    for path in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(page, path.strip("/").replace("/", "-") + "-1280")

    # At phone width nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/t/alpha/postmortems/1", *PAGES):
        page.goto(path)
        assert_fits_the_screen(page, path)
