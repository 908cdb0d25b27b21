"""How the shell plugs into the app: static files, templates, rendering, pinned htmx."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from jinja2 import Environment

from opsyard import errors, problems
from opsyard.api.deps import DbSession, TeamOwner
from opsyard.errors import OpsyardError
from opsyard.teams import service as teams
from opsyard_web.assets import HTMX_FILE, HTMX_SHA256, HTMX_VERSION, STATIC_DIR, TEMPLATES_DIR
from opsyard_web.errors import render_error
from opsyard_web.forms import safe_next
from opsyard_web.navigation import NavLink, mark_current
from opsyard_web.rendering import render
from opsyard_web.templating import ENVIRONMENT_STATE, when
from tests.conftest import World
from tests.web.conftest import login


def test_the_shell_is_installed_through_the_entry_point(app: FastAPI) -> None:
    assert getattr(app.state, problems.HTML_RENDERER_STATE) is render_error
    assert isinstance(getattr(app.state, ENVIRONMENT_STATE), Environment)


def test_htmx_is_vendored_pinned_and_served(client: TestClient) -> None:
    assert HTMX_VERSION.startswith("2.0.")
    assert hashlib.sha256((STATIC_DIR / HTMX_FILE).read_bytes()).hexdigest() == HTMX_SHA256
    layout = (TEMPLATES_DIR / "layout.html").read_text()
    assert f"htmx {HTMX_VERSION}" in layout
    page = client.get("/login").text
    assert f'<script src="/static/{HTMX_FILE}" defer></script>' in page
    served = client.get(f"/static/{HTMX_FILE}")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == HTMX_SHA256
    assert client.get("/static/opsyard.css").status_code == 200


def test_pages_load_nothing_from_other_sites(client: TestClient) -> None:
    page = client.get("/login").text
    assert "http://" not in page and "https://" not in page


def test_plugin_templates_cannot_replace_the_shell_layout(app: FastAPI) -> None:
    environment: Environment = getattr(app.state, ENVIRONMENT_STATE)
    assert environment.get_template("fixture/notes.html").filename.endswith(
        "templates/fixture/notes.html"
    )
    assert environment.get_template("layout.html").filename == str(TEMPLATES_DIR / "layout.html")


def test_templates_escape_what_they_show(app: FastAPI) -> None:
    environment: Environment = getattr(app.state, ENVIRONMENT_STATE)
    assert environment.from_string("{{ v }}").render(v="<script>") == "&lt;script&gt;"


def test_an_htmx_request_targeting_a_block_gets_only_that_block(
    client: TestClient, world: World
) -> None:
    login(client, "alice")
    section = client.get(
        "/t/alpha/settings", headers={"HX-Request": "true", "HX-Target": "members"}
    )
    assert section.text.lstrip().startswith('<section id="members"')
    assert "<html" not in section.text
    boosted = client.get(
        "/t/alpha/settings",
        headers={"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "members"},
    )
    assert "<html" in boosted.text
    other = client.get("/t/alpha/settings", headers={"HX-Request": "true", "HX-Target": "nothing"})
    assert "<html" in other.text


def test_pages_refuse_to_be_framed(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/t/alpha/", "/t/alpha/"),
        ("/account?tab=tokens", "/account?tab=tokens"),
        ("", "/"),
        (None, "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("/a\nb", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_longest_matching_link_is_current() -> None:
    links = [
        NavLink("Overview", "/t/a/"),
        NavLink("Notes", "/t/a/notes/"),
        NavLink("Note admin", "/t/a/notes/admin"),
        NavLink("Settings", "/t/a/settings"),
    ]
    current = lambda path: [  # noqa: E731
        link.label for link in mark_current(links, path, exact_only={"/t/a/"}) if link.current
    ]
    assert current("/t/a/") == ["Overview"]
    assert current("/t/a/notes/") == ["Notes"]
    assert current("/t/a/notes/42") == ["Notes"]
    assert current("/t/a/notes/admin") == ["Note admin"]
    assert current("/t/a/settings/members") == ["Settings"]
    assert current("/t/a/elsewhere") == []


def test_times_are_shown_in_utc_with_a_machine_readable_value() -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert (
        str(when(moment))
        == '<time datetime="2025-03-04T05:06:07+00:00">2025-03-04 05:06 UTC</time>'
    )
    assert str(when(None)) == "—"


def _add_probe_pages(app: FastAPI) -> None:
    """Pages that switch the fixture plugin off inside the request, like a plugin might
    change its own data before rendering."""

    def switch_off_and_render(request: Request, access: TeamOwner, session: DbSession) -> object:
        teams.disable_plugin(session, team=access.team, plugin="fixture", actor=access.user)
        return render(request, "fixture/notes.html", {"notes": []})

    def switch_off_and_fail(access: TeamOwner, session: DbSession) -> None:
        teams.disable_plugin(session, team=access.team, plugin="fixture", actor=access.user)
        raise OpsyardError(errors.CONFLICT, "changed my mind")

    app.add_api_route("/t/{team}/probe/render", switch_off_and_render, methods=["GET"])
    app.add_api_route("/t/{team}/probe/fail", switch_off_and_fail, methods=["GET"])


def _fixture_enabled(world: World) -> bool:
    with world.session() as session:
        return teams.is_enabled(session, session.merge(world.teams["alpha"]), "fixture")


def test_render_reads_through_the_requests_own_transaction(
    app: FastAPI, client: TestClient, world: World
) -> None:
    _add_probe_pages(app)
    login(client, "alice")
    page = client.get("/t/alpha/probe/render")
    assert page.status_code == 200
    # render() was not handed the session, yet its navigation already misses the plugin.
    assert 'data-plugin="fixture"' not in page.text
    assert not _fixture_enabled(world)


def test_a_failed_request_still_rolls_back_whole(
    app: FastAPI, client: TestClient, world: World
) -> None:
    _add_probe_pages(app)
    login(client, "alice")
    assert client.get("/t/alpha/probe/fail").status_code == 409
    assert _fixture_enabled(world)
