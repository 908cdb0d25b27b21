"""Errors for people: friendly pages with a reference id, never a stack trace."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsyard.api.deps import TeamAccess
from tests.conftest import World
from tests.web.conftest import send


def _add_exploding_page(app: FastAPI) -> None:
    def explode(access: TeamAccess) -> None:
        raise RuntimeError("secret internal detail that must never reach a client")

    app.add_api_route("/t/{team}/explode", explode, methods=["GET"])


def test_an_unexpected_error_is_a_friendly_page_with_the_reference_id(
    app: FastAPI, signed_in: Callable[[str], TestClient], world: World
) -> None:
    _add_exploding_page(app)
    response = signed_in("bob").get("/t/alpha/explode")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Unexpected error" in page
    assert "Report the reference id to your operators." in page
    assert f"<code>{response.headers['x-request-id']}</code>" in page
    assert "secret internal detail" not in page
    assert "Traceback" not in page and "RuntimeError" not in page


def test_an_unexpected_error_in_an_htmx_request_goes_to_the_flash_area(
    app: FastAPI, signed_in: Callable[[str], TestClient], world: World
) -> None:
    _add_exploding_page(app)
    response = signed_in("bob").get("/t/alpha/explode", headers={"HX-Request": "true"})
    assert response.status_code == 500
    assert response.headers["hx-retarget"] == "#flash"
    assert response.headers["hx-reswap"] == "innerHTML"
    assert response.text.lstrip().startswith('<div class="alert alert-error" role="alert">')
    assert response.headers["x-request-id"] in response.text
    assert "secret internal detail" not in response.text


def test_a_boosted_request_gets_the_whole_error_page(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    headers = {"HX-Request": "true", "HX-Boosted": "true"}
    response = signed_in("carol").get("/t/alpha/", headers=headers)
    assert response.status_code == 404
    assert "<html" in response.text and "Not found" in response.text


def test_unknown_pages_are_404_pages(signed_in: Callable[[str], TestClient], world: World) -> None:
    response = signed_in("bob").get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Check the address" in response.text


def test_a_form_validation_error_is_shown_by_its_field_not_as_a_500(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    response = send(
        signed_in("bob"), "/teams/new", {"slug": "Not A Slug!", "name": "X"}, boosted=True
    )
    assert response.status_code == 422
    page = response.text
    assert 'id="f-slug-error"' in page
    assert 'aria-describedby="f-slug-error f-slug-hint"' in page
    assert 'aria-invalid="true"' in page
    assert 'value="Not A Slug!"' in page
    assert "is not a valid team slug" in page


def test_a_taken_team_slug_is_a_conflict_by_the_field(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    response = send(signed_in("bob"), "/teams/new", {"slug": "alpha"})
    assert response.status_code == 409
    assert "Choose another slug." in response.text


def test_malformed_requests_to_pages_list_the_problems(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    response = send(
        signed_in("alice"), "/t/alpha/settings/members/not-a-number/role", {"role": "x"}
    )
    assert response.status_code == 422
    assert "The request is not valid" in response.text
    assert "<code>/path/user_id</code>" in response.text


def test_api_errors_stay_problem_json(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/teams/alpha/fixture/boom", headers=world.auth("bob"))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
