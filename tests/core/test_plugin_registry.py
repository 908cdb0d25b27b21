"""Plugin discovery through entry points, and what happens when a plugin is broken."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsyard.app import create_app
from opsyard.context import build_context
from opsyard.errors import Category, ErrorCode
from opsyard.hookspecs import hookimpl
from opsyard.plugins import create_registry
from tests.conftest import World


def _install_distribution(
    site: Path, name: str, entry_points: str, module_source: str = ""
) -> None:
    """Lay out a minimal installed distribution on `site`, as pip would."""
    dist_info = site / f"{name}-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    if module_source:
        (site / f"{name}.py").write_text(module_source)


@pytest.fixture
def broken_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    _install_distribution(
        site,
        "opsyard_broken",
        "[opsyard.plugins]\nbroken = opsyard_broken\n",
        "raise ImportError('needs a library that is not installed')\n",
    )
    _install_distribution(
        site,
        "opsyard_badhooks",
        "[opsyard.plugins]\nbadhooks = opsyard_badhooks\n",
        # `colour` is not an argument of the hook: pluggy refuses the implementation.
        "from opsyard.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef navigation_items(team, role, colour):\n    return []\n",
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_plugins_are_discovered() -> None:
    registry = create_registry()
    assert "fixture" in registry.names
    assert registry.failures == {}


def test_entry_points_can_be_switched_off() -> None:
    assert create_registry(load_entrypoints=False).names == []


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    broken_site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        registry = create_registry()
    assert "broken" not in registry.names
    assert "import failed" in registry.failures["broken"]
    assert "needs a library" in registry.failures["broken"]
    assert "badhooks" in registry.failures and "badhooks" not in registry.names
    assert "fixture" in registry.names
    assert "plugin broken skipped" in caplog.text


def test_the_portal_starts_and_readyz_lists_failed_plugins(
    broken_site: Path, settings, world: World
) -> None:
    ctx = build_context(settings, registry=create_registry())
    with TestClient(create_app(settings, context=ctx)) as client:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert "broken" in response.json()["plugins"]["failed"]
        assert client.get("/api/v1/me", headers=world.auth("alice")).status_code == 200
        listed = client.get("/api/v1/plugins", headers=world.auth("alice")).json()
        assert {f["name"] for f in listed["failed"]} == {"broken", "badhooks"}
    ctx.engine.dispose()


class Clashing:
    """A plugin that redefines a core error code with another meaning."""

    @hookimpl
    def error_codes(self) -> list[ErrorCode]:
        return [ErrorCode("resource.not_found", Category.FATAL, 500, "x", "y")]


def test_a_plugin_redefining_an_error_code_is_skipped() -> None:
    registry = create_registry(load_entrypoints=False, extra=[("clashing", Clashing())])
    assert registry.names == []
    assert "declared twice" in registry.failures["clashing"]
    assert registry.errors.codes["resource.not_found"].status == 404


def test_enabling_an_unknown_plugin_is_a_clear_error(client: TestClient, world: World) -> None:
    response = client.put("/api/v1/teams/alpha/plugins/nope", headers=world.auth("alice"))
    assert response.status_code == 404
    assert response.json()["code"] == "plugins.not_installed"


def test_team_plugin_listing_shows_what_is_enabled(client: TestClient, world: World) -> None:
    headers = world.auth("alice")

    def listed() -> dict[str, dict[str, object]]:
        rows = client.get("/api/v1/teams/alpha/plugins", headers=headers).json()
        return {row["name"]: row for row in rows}

    assert listed()["fixture"] == {
        "name": "fixture",
        "title": "Fixture",
        "description": "Notes, for testing every hook.",
        "enabled": True,
    }
    client.delete("/api/v1/teams/alpha/plugins/fixture", headers=headers)
    assert listed()["fixture"]["enabled"] is False
    # Idempotent both ways.
    assert client.delete("/api/v1/teams/alpha/plugins/fixture", headers=headers).status_code == 200
