"""The synthetics secrets page in a real browser: set a secret and see it listed, replace it,
try to delete one a check uses and read why not, delete an unused one; no answer the browser
gets carries a value; and the page at phone width."""

from __future__ import annotations

from typing import Any

import pytest

from opsyard.db.engine import session_scope
from opsyard_synthetics import service
from tests.conftest import World
from tests.e2e.conftest import screenshot
from tests.e2e.test_browser import assert_fits_the_screen, log_in

pytestmark = pytest.mark.browser

PAGE = "/t/alpha/synthetics/secrets"
# Random-looking, so finding them in an answer can only mean a leak.
VALUE = "Pw4kT9zQ2mXc7Ls1"
NEW_VALUE = "Rb8nV3hY6qJd0Gf5"
OLD_VALUE = "Ke2uM7pW5sNa9Zt4"
CHECKS = """version: 1
checks:
  - name: checkout
    kind: http
    secrets: [API_TOKEN]
    steps:
      - url: http://127.0.0.1:9/
        headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}
"""


def set_secret(page: Any, name: str, value: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Value", exact=True).fill(value)
    page.get_by_role("button", name="Set secret").click()


def test_set_list_and_delete_secrets_in_the_browser(page: Any, syn_enabled: World) -> None:
    from playwright.sync_api import expect

    bodies: list[str] = []

    def keep(answer: Any) -> None:
        # Read at once: a page's body is gone once the browser navigates away from it.
        if answer.request.resource_type in ("document", "xhr") and not 300 <= answer.status < 400:
            bodies.append(answer.text())

    page.on("response", keep)
    # hx-confirm asks through the browser's own dialog: say yes, as the user would.
    page.on("dialog", lambda dialog: dialog.accept())

    log_in(page, "bob", path=PAGE)
    page.wait_for_url(f"**{PAGE}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Secrets")
    expect(page.get_by_text("Alpha has no secret yet.")).to_be_visible()
    expect(page.get_by_label("Value", exact=True)).to_have_attribute("type", "password")

    # Set two secrets: each is listed with its date and no check using it.
    set_secret(page, "API_TOKEN", VALUE)
    secrets = page.locator("#secrets")
    expect(secrets.get_by_role("status")).to_contain_text("Secret API_TOKEN set.")
    row = secrets.get_by_role("row", name="API_TOKEN")
    expect(row.locator('td[data-label="Used by"]')).to_have_text("no check")
    expect(row.locator('td[data-label="Last set"] time')).to_be_visible()
    # The swapped-in form starts empty: the value is not kept anywhere on the page.
    expect(page.get_by_label("Value", exact=True)).to_have_value("")
    set_secret(page, "OLD_TOKEN", OLD_VALUE)
    expect(secrets.get_by_role("row", name="OLD_TOKEN")).to_be_visible()
    screenshot(page, "synthetics-secrets-1280")

    # A check starts using API_TOKEN; the list says so and links to it.
    with session_scope(syn_enabled.ctx.sessions) as session:
        service.apply_checks(
            session,
            portal=syn_enabled.ctx,
            team=session.merge(syn_enabled.teams["alpha"]),
            text=CHECKS,
            actor=None,
        )
    page.reload()
    row = page.locator("#secrets").get_by_role("row", name="API_TOKEN")
    expect(row.get_by_role("link", name="checkout")).to_be_visible()

    # Deleting it is refused in place, naming the check.
    row.get_by_role("button", name="Delete the secret API_TOKEN").click()
    refusal = page.locator("#secrets [role=alert]")
    expect(refusal).to_contain_text("The secret 'API_TOKEN' is used by: checkout.")
    expect(refusal).to_contain_text("set it again instead")
    expect(page.locator("#secrets").get_by_role("row", name="API_TOKEN")).to_be_visible()
    screenshot(page, "synthetics-secrets-in-use-1280")

    # Setting it again replaces its value, and says so.
    set_secret(page, "API_TOKEN", NEW_VALUE)
    expect(page.locator("#secrets").get_by_role("status")).to_contain_text(
        "Secret API_TOKEN replaced"
    )

    # The unused one goes.
    page.locator("#secrets").get_by_role("button", name="Delete the secret OLD_TOKEN").click()
    expect(page.locator("#secrets").get_by_role("status")).to_have_text("Secret OLD_TOKEN deleted.")
    expect(page.locator("#secrets").get_by_role("row", name="OLD_TOKEN")).to_have_count(0)
    with session_scope(syn_enabled.ctx.sessions) as session:
        stored = service.secrets_for(session, team_id=syn_enabled.teams["alpha"].id)
    assert stored == {"API_TOKEN": NEW_VALUE}

    # Nothing the server answered held a value.
    assert len(bodies) >= 6
    for body in bodies:
        for value in (VALUE, NEW_VALUE, OLD_VALUE):
            assert value not in body

    # At phone width nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(PAGE)
    assert_fits_the_screen(page, PAGE)
