"""Synthetic checks in a real browser: apply a checks file through the page (dry run first),
let the run job probe a loopback target from two locations, see the grid, open the check's
page with its latency chart and switch its period; and the pages at desktop and phone width."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from opsyard.config import Settings
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard_synthetics import execution, service
from opsyard_synthetics.models import Check, Run
from tests.conftest import World
from tests.e2e.conftest import screenshot
from tests.e2e.test_browser import assert_fits_the_screen, log_in
from tests.plugins.synthetics.target import LoopbackTarget

pytestmark = pytest.mark.browser

BASE = "/t/alpha/synthetics"
PAGES = (f"{BASE}/", f"{BASE}/checks/checkout", f"{BASE}/code", f"{BASE}/maintenance")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"locations": "eu,us"})


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as running:
        running.set_location("eu", status=200)
        running.set_location("us", status=503, body='{"status": "down"}')
        yield running


def checks_file(target: LoopbackTarget) -> str:
    return f"""version: 1
checks:
  - name: checkout
    kind: http
    interval_seconds: 60
    critical: true
    locations: [eu, us]
    steps:
      - url: {target.url("/")}
        assertions:
          - status == 200
  - name: search
    kind: http
    interval_seconds: 60
    locations: [eu]
    steps:
      - url: {target.url("/")}
"""


def test_apply_checks_then_see_the_grid_and_the_chart(
    page: Any, syn_enabled: World, target: LoopbackTarget
) -> None:
    from playwright.sync_api import expect

    log_in(page, "bob", path=f"{BASE}/")
    page.wait_for_url(f"**{BASE}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Synthetic checks")
    expect(page.get_by_text("has no synthetic check yet")).to_be_visible()

    # Checks as code: a dry run first shows what would change, then apply.
    page.get_by_role("navigation", name="Team Alpha").get_by_role(
        "link", name="Checks as code"
    ).click()
    page.wait_for_url(f"**{BASE}/code")
    page.get_by_label("Checks file (YAML)").fill(checks_file(target))
    page.get_by_role("button", name="Preview changes").click()
    status = page.locator("#code [role=status]")
    expect(status).to_contain_text("Dry run: applying this file would make these changes.")
    expect(status).to_contain_text("create checkout")
    expect(status).to_contain_text("create search")
    screenshot(page, "synthetics-code-preview-1280")
    page.get_by_role("button", name="Apply these changes").click()
    expect(page.locator("#code [role=status]")).to_contain_text("Applied.")

    # A broken file is refused whole, each problem with its line.
    page.get_by_label("Checks file (YAML)").fill(
        "version: 1\nchecks:\n  - name: x\n    kind: ftp\n"
    )
    page.get_by_role("button", name="Preview changes").click()
    refusal = page.locator("#code [role=alert]")
    expect(refusal).to_contain_text("refused whole")
    expect(refusal.locator("li").first).to_contain_text("line 4")
    screenshot(page, "synthetics-code-refused-1280")

    # As if the file had been applied three minutes ago (the schedules' own code moves the
    # slots back), the run job probes the target from both locations twice; in a thread of
    # its own, because Playwright's sync API keeps an event loop running in this one.
    now = utcnow()
    with session_scope(syn_enabled.ctx.sessions) as session:
        for check in session.scalars(select(Check)):
            execution.sync_schedules(
                session, check=check, locations=["eu", "us"], now=now - timedelta(minutes=3)
            )

    def run_twice() -> None:
        for at in (now - timedelta(seconds=100), utcnow()):
            for location in ("eu", "us"):
                execution.run_due(syn_enabled.ctx, location=location, at=at, limit=10)

    with ThreadPoolExecutor(max_workers=1) as runner:
        runner.submit(run_twice).result(timeout=60)
    with session_scope(syn_enabled.ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 6

    page.goto(f"{BASE}/")
    row = page.locator("#grid tr").filter(has=page.get_by_role("link", name="checkout"))
    expect(row.locator('td[data-label="Worst"]')).to_have_text("Failing")
    expect(row.locator('td[data-label="eu"]')).to_contain_text("OK")
    expect(row.locator('td[data-label="us"]')).to_contain_text("Failing")
    search = page.locator("#grid tr").filter(has=page.get_by_role("link", name="search"))
    expect(search.locator('td[data-label="us"]')).to_have_text("Not run here")
    screenshot(page, "synthetics-overview-1280")

    # The filter swaps the grid in place.
    page.get_by_label("Status", exact=True).select_option("ok")
    grid = page.locator("#grid")
    expect(grid.get_by_role("link", name="checkout", exact=True)).to_have_count(0)
    expect(grid.get_by_role("link", name="search", exact=True)).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("")
    # checkout failed twice from us: critical, so it paged, and the alert is listed on top.
    alerts = page.get_by_role("region", name="Open alerts")
    expect(alerts).to_contain_text("Paged")
    grid.get_by_role("link", name="checkout", exact=True).click()

    page.wait_for_url(f"**{BASE}/checks/checkout")
    expect(page.get_by_role("heading", level=1)).to_have_text("checkout")
    chart = page.locator("#chart svg[role=img]")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text("Response time of checkout, last 24 hours")
    expect(chart.locator("g.series")).to_have_count(2)
    page.get_by_role("link", name="1 hour").click()
    expect(chart.locator("title").first).to_have_text("Response time of checkout, last 1 hour")
    page.wait_for_url(f"**{BASE}/checks/checkout?window=1h")
    expect(page.get_by_role("link", name="1 hour")).to_have_attribute("aria-current", "true")
    # A run's phases and excerpt unfold.
    failing_run = page.locator("details.syn-run").filter(has_text="from us").first
    failing_run.locator("summary").first.click()
    expect(failing_run.get_by_text("First byte")).to_be_visible()
    failing_run.get_by_text("Response excerpt (secrets redacted)").click()
    expect(failing_run.locator("pre.syn-excerpt")).to_have_text('{"status": "down"}')
    screenshot(page, "synthetics-check-1280")
    for path in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(page, path.strip("/").replace("/", "-") + "-1280")

    # The team's public status page, once an owner switches it on.
    with session_scope(syn_enabled.ctx.sessions) as session:
        service.update_settings(
            session,
            team=session.merge(syn_enabled.teams["alpha"]),
            actor=None,
            public_status_page=True,
            failure_threshold=2,
            success_threshold=2,
            retention_days=14,
        )
    page.goto("/status/alpha")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Down")
    expect(page.get_by_role("row", name="checkout")).to_contain_text("Down")
    expect(page.get_by_role("row", name="search")).to_contain_text("Operational")
    screenshot(page, "synthetics-status-1280")

    # At phone width nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in (*PAGES, f"{BASE}/settings", "/status/alpha"):
        page.goto(path)
        assert_fits_the_screen(page, path)
