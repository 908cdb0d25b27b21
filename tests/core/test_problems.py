"""Every API error is RFC 9457 problem+json with a code, a category and the request id."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "category"}


def _problem(response) -> dict:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == response.status_code
    assert body["instance"] == response.headers["x-request-id"]
    assert body["category"] in {"retryable", "user_fixable", "operator_fixable", "fatal"}
    return body


def test_401_without_credentials(client: TestClient) -> None:
    body = _problem(client.get("/api/v1/me"))
    assert body["code"] == "auth.unauthenticated"
    assert body["category"] == "user_fixable"


def test_401_with_an_unknown_token(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer opsy_nothing_here"})
    assert _problem(response)["code"] == "auth.token_invalid"


def test_403_for_a_member_without_the_role(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams/alpha/members",
        json={"email": "root@example.com", "role": "member"},
        headers=world.auth("bob"),
    )
    assert response.status_code == 403
    assert _problem(response)["code"] == "auth.forbidden"


def test_404_for_an_unknown_route(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/nowhere", headers=world.auth("alice"))
    assert response.status_code == 404
    assert _problem(response)["code"] == "resource.not_found"


def test_405_lists_the_allowed_methods(client: TestClient, world: World) -> None:
    response = client.patch("/api/v1/me", headers=world.auth("alice"))
    assert response.status_code == 405
    assert _problem(response)["code"] == "request.method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_409_on_a_duplicate_team(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/teams", json={"slug": "alpha"}, headers=world.auth("bob"))
    assert response.status_code == 409
    body = _problem(response)
    assert body["code"] == "resource.conflict"
    assert body["errors"][0]["pointer"] == "/slug"


def test_validation_errors_point_at_each_bad_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/tokens",
        json={"expires_in_days": 9999, "colour": "red"},
        headers=world.auth("alice"),
    )
    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "request.invalid"
    pointers = {e["pointer"]: e["detail"] for e in body["errors"]}
    assert "/expires_in_days" in pointers
    assert pointers["/colour"] == "This field is not accepted; remove it."


def test_malformed_json_is_a_validation_problem(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams",
        content=b"{not json",
        headers={**world.auth("alice"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert _problem(response)["code"] == "request.invalid"


def test_a_plugin_error_code_keeps_its_code(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/teams/alpha/fixture/notes", json={"text": "x" * 300}, headers=world.auth("bob")
    )
    assert response.status_code == 422
    assert _problem(response)["code"] == "fixture.note_too_long"


def test_unhandled_exceptions_are_fatal_without_internals(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/teams/alpha/fixture/boom", headers=world.auth("alice"))
    assert response.status_code == 500
    body = _problem(response)
    assert body["code"] == "internal.unexpected"
    assert body["category"] == "fatal"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and getattr(logged[-1], "request_id", None) == body["instance"]
    assert "secret internal detail" in caplog.text


def test_retryable_problems_carry_retry_after(client: TestClient, world: World) -> None:
    # Lock bob out through the API's login path: the web login shares the service, so the
    # lockout itself is exercised there; here we check the problem shape of a retryable error.
    from opsyard import errors
    from opsyard.errors import OpsyardError
    from opsyard.problems import problem_response

    response = problem_response(OpsyardError(errors.LOGIN_LOCKED, retry_after=42), "req-1")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"


def test_a_client_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"x-request-id": "abc12345-trace"})
    assert response.headers["x-request-id"] == "abc12345-trace"
    assert response.json()["instance"] == "abc12345-trace"
