"""/api/v1/teams/{team}/synthetics: checks, apply/export, secrets, windows and settings."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import World
from tests.plugins.synthetics.test_service import CHECKS

BASE = "/api/v1/teams/alpha/synthetics"
YAML = {"Content-Type": "application/yaml"}


def _auth(world: World, who: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return world.auth(who) | (extra or {})


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert "Traceback" not in response.text
    return body


def _with_secret(client: TestClient, world: World) -> None:
    response = client.put(
        f"{BASE}/secrets/API_KEY", json={"value": "s3cret"}, headers=world.auth("bob")
    )
    assert response.status_code == 200, response.text


def test_apply_as_yaml_or_json_reports_the_diff(client: TestClient, syn_world: World) -> None:
    _with_secret(client, syn_world)
    dry = client.post(
        f"{BASE}/apply?dry_run=true", content=CHECKS, headers=_auth(syn_world, "bob", YAML)
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["created"] == ["db", "home", "login"] and dry.json()["dry_run"]
    assert client.get(f"{BASE}/checks", headers=syn_world.auth("bob")).json() == []
    done = client.post(f"{BASE}/apply", content=CHECKS, headers=_auth(syn_world, "bob", YAML))
    assert done.json()["created"] == ["db", "home", "login"]
    again = client.post(
        f"{BASE}/apply", json={"yaml": CHECKS, "dry_run": False}, headers=syn_world.auth("bob")
    )
    assert again.json() | {"unchanged": None} == {
        "created": [],
        "changed": [],
        "removed": [],
        "unchanged": None,
        "changed_fields": {},
        "dry_run": False,
    }
    assert again.json()["unchanged"] == ["db", "home", "login"]
    listed = client.get(f"{BASE}/checks", headers=syn_world.auth("vera")).json()
    assert [check["name"] for check in listed] == ["db", "home", "login"]
    login = client.get(f"{BASE}/checks/login", headers=syn_world.auth("vera")).json()
    assert login["depends_on"] == "home" and login["kind"] == "flow"


def test_an_invalid_file_is_a_problem_naming_each_line(
    client: TestClient, syn_world: World
) -> None:
    _with_secret(client, syn_world)
    broken = CHECKS.replace("kind: tcp", "kind: smtp")
    response = client.post(f"{BASE}/apply", content=broken, headers=_auth(syn_world, "bob", YAML))
    body = _problem(response, 422, "synthetics.invalid_checks_file")
    assert [field["pointer"] for field in body["errors"]] == ["/checks/2/kind"]
    assert body["errors"][0]["detail"].startswith("line 19, column 5: checks[2].kind:")
    assert client.get(f"{BASE}/checks", headers=syn_world.auth("bob")).json() == []
    garbage = client.post(
        f"{BASE}/apply",
        content=b"{not json",
        headers=_auth(syn_world, "bob", {"Content-Type": "application/json"}),
    )
    _problem(garbage, 422, "request.invalid")
    unknown = client.post(
        f"{BASE}/apply", json={"yaml": CHECKS, "force": True}, headers=syn_world.auth("bob")
    )
    _problem(unknown, 422, "request.invalid")


def test_an_unset_secret_is_refused(client: TestClient, syn_world: World) -> None:
    response = client.post(f"{BASE}/apply", content=CHECKS, headers=_auth(syn_world, "bob", YAML))
    body = _problem(response, 422, "synthetics.unknown_secret")
    assert "API_KEY" in body["detail"]


def test_export_is_yaml_that_applies_unchanged(client: TestClient, syn_world: World) -> None:
    _with_secret(client, syn_world)
    client.post(f"{BASE}/apply", content=CHECKS, headers=_auth(syn_world, "bob", YAML))
    exported = client.get(f"{BASE}/export", headers=syn_world.auth("vera"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    data = yaml.safe_load(exported.text)
    assert [check["name"] for check in data["checks"]] == ["db", "home", "login"]
    again = client.post(
        f"{BASE}/apply", content=exported.text, headers=_auth(syn_world, "bob", YAML)
    )
    assert again.json()["unchanged"] == ["db", "home", "login"]


def test_one_check_at_a_time(client: TestClient, syn_world: World) -> None:
    check = {"name": "api", "kind": "http", "steps": [{"url": "http://127.0.0.1:9/"}]}
    created = client.post(f"{BASE}/checks", json=check, headers=syn_world.auth("bob"))
    assert created.status_code == 201, created.text
    assert created.json()["interval_seconds"] == 300
    duplicate = client.post(f"{BASE}/checks", json=check, headers=syn_world.auth("bob"))
    _problem(duplicate, 409, "synthetics.check_exists")
    invalid = client.post(
        f"{BASE}/checks", json=check | {"interval_seconds": 1}, headers=syn_world.auth("bob")
    )
    _problem(invalid, 422, "request.invalid")
    changed = client.put(
        f"{BASE}/checks/api", json=check | {"critical": True}, headers=syn_world.auth("bob")
    )
    assert changed.json()["critical"] is True
    renamed = client.put(
        f"{BASE}/checks/api", json=check | {"name": "other"}, headers=syn_world.auth("bob")
    )
    _problem(renamed, 422, "synthetics.invalid_check")
    secret = check | {
        "name": "keyed",
        "secrets": ["NOPE"],
        "steps": [{"url": "http://127.0.0.1:9/", "headers": {"K": "{{ secrets.NOPE }}"}}],
    }
    _problem(
        client.post(f"{BASE}/checks", json=secret, headers=syn_world.auth("bob")),
        422,
        "synthetics.unknown_secret",
    )
    undeclared = check | {
        "name": "leaky",
        "steps": [{"url": "http://127.0.0.1:9/", "headers": {"K": "{{ secrets.NOPE }}"}}],
    }
    _problem(
        client.post(f"{BASE}/checks", json=undeclared, headers=syn_world.auth("bob")),
        422,
        "synthetics.invalid_check",
    )
    assert client.delete(f"{BASE}/checks/api", headers=syn_world.auth("bob")).status_code == 204
    _problem(
        client.get(f"{BASE}/checks/api", headers=syn_world.auth("bob")),
        404,
        "synthetics.not_found",
    )


def test_secret_values_are_never_returned(client: TestClient, syn_world: World) -> None:
    put = client.put(
        f"{BASE}/secrets/TOKEN", json={"value": "hunter2"}, headers=syn_world.auth("bob")
    )
    assert put.json()["name"] == "TOKEN" and "hunter2" not in put.text
    listed = client.get(f"{BASE}/secrets", headers=syn_world.auth("vera"))
    assert [secret["name"] for secret in listed.json()] == ["TOKEN"]
    assert "hunter2" not in listed.text
    bad = client.put(
        f"{BASE}/secrets/no-dashes", json={"value": "x"}, headers=syn_world.auth("bob")
    )
    _problem(bad, 422, "synthetics.invalid_secret")
    assert client.delete(f"{BASE}/secrets/TOKEN", headers=syn_world.auth("bob")).status_code == 204
    _problem(
        client.delete(f"{BASE}/secrets/TOKEN", headers=syn_world.auth("bob")),
        404,
        "synthetics.not_found",
    )


def test_maintenance_windows(client: TestClient, syn_world: World) -> None:
    _with_secret(client, syn_world)
    client.post(f"{BASE}/apply", content=CHECKS, headers=_auth(syn_world, "bob", YAML))
    window = {"starts_at": "2030-01-01T22:00:00Z", "ends_at": "2030-01-01T23:00:00Z"}
    made = client.post(
        f"{BASE}/maintenance", json=window | {"check": "home"}, headers=syn_world.auth("bob")
    )
    assert made.status_code == 201, made.text
    assert made.json()["check"] == "home"
    backwards = window | {"ends_at": "2030-01-01T21:00:00Z"}
    body = _problem(
        client.post(f"{BASE}/maintenance", json=backwards, headers=syn_world.auth("bob")),
        422,
        "synthetics.invalid_window",
    )
    assert body["errors"][0]["pointer"] == "/ends_at"
    listed = client.get(f"{BASE}/maintenance", headers=syn_world.auth("vera")).json()
    assert [w["id"] for w in listed] == [made.json()["id"]]
    deleted = client.delete(
        f"{BASE}/maintenance/{made.json()['id']}", headers=syn_world.auth("bob")
    )
    assert deleted.status_code == 204


def test_settings_are_for_owners_to_change(client: TestClient, syn_world: World) -> None:
    got = client.get(f"{BASE}/settings", headers=syn_world.auth("vera")).json()
    assert got == {
        "public_status_page": False,
        "failure_threshold": 2,
        "success_threshold": 2,
        "retention_days": 14,
    }
    wanted = got | {"public_status_page": True, "retention_days": 30}
    _problem(
        client.put(f"{BASE}/settings", json=wanted, headers=syn_world.auth("bob")),
        403,
        "auth.forbidden",
    )
    put = client.put(f"{BASE}/settings", json=wanted, headers=syn_world.auth("alice"))
    assert put.json() == wanted
    bad = client.put(
        f"{BASE}/settings", json=wanted | {"failure_threshold": 11}, headers=syn_world.auth("alice")
    )
    _problem(bad, 422, "synthetics.invalid_settings")


ROUTES = [
    ("GET", "/checks"),
    ("POST", "/checks"),
    ("GET", "/checks/home"),
    ("PUT", "/checks/home"),
    ("DELETE", "/checks/home"),
    ("POST", "/apply"),
    ("GET", "/export"),
    ("GET", "/secrets"),
    ("PUT", "/secrets/API_KEY"),
    ("DELETE", "/secrets/API_KEY"),
    ("GET", "/maintenance"),
    ("POST", "/maintenance"),
    ("DELETE", "/maintenance/1"),
    ("GET", "/settings"),
    ("PUT", "/settings"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_is_authorised(
    client: TestClient, syn_world: World, method: str, path: str
) -> None:
    _with_secret(client, syn_world)
    client.post(f"{BASE}/apply", content=CHECKS, headers=_auth(syn_world, "bob", YAML))
    # A member of another team does not learn the team's checks exist.
    other = client.request(method, f"{BASE}{path}", headers=syn_world.auth("carol"), json={})
    _problem(other, 404, "resource.not_found")
    if method != "GET":
        viewer = client.request(method, f"{BASE}{path}", headers=syn_world.auth("vera"), json={})
        _problem(viewer, 403, "auth.forbidden")
    # The checks are still there: nothing got through.
    assert len(client.get(f"{BASE}/checks", headers=syn_world.auth("vera")).json()) == 3


def test_a_team_without_the_plugin_sees_404(client: TestClient, world: World) -> None:
    response = client.get(f"{BASE}/checks", headers=world.auth("alice"))
    _problem(response, 404, "resource.not_found")
