"""Browser tests: a real uvicorn server on 127.0.0.1 and Debian's Chromium through Playwright.

They run on SQLite only (what they check is the browser side; the database side is covered
by the web tests on both backends). Under CI=true a missing Chromium fails the run instead of
skipping, so CI cannot go green without having driven a browser. Never `playwright install`:
the browser is Debian's package (`apt-get install chromium`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from opsyard.db.engine import session_scope
from opsyard.plugins import PluginRegistry
from opsyard.teams import service as teams
from tests.conftest import DatabaseTemplate, World, sqlite_template

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def migrated_database(
    registry: PluginRegistry, tmp_path_factory: pytest.TempPathFactory
) -> DatabaseTemplate:
    """Overrides the root fixture: SQLite only, so the browser tests run once."""
    return sqlite_template(registry, tmp_path_factory.mktemp("e2e-sqlite"))


@pytest.fixture
def live_server(app: FastAPI, world: World) -> Iterator[str]:
    """The app served by uvicorn in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held open so nothing else takes it
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in the
# main thread while it is open, and later tests that run a loop of their own (the synthetics
# runner) must find none.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install Debian's package: apt-get install chromium"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser tab (own cookies) pointed at the live server."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def syn_enabled(world: World) -> World:
    """`world` with the synthetics plugin switched on for alpha."""
    with session_scope(world.ctx.sessions) as session:
        alpha = session.merge(world.teams["alpha"])
        teams.enable_plugin(session, team=alpha, plugin="synthetics", actor=None)
    return world


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot when OPSYARD_SCREENSHOTS names a folder (for looking at the pages
    during development; never committed)."""
    folder = os.environ.get("OPSYARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
