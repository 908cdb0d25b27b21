"""Helpers for driving the web shell like a browser: log in through the form, send the CSRF
header that htmx sends, and act as htmx does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsyard_web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.conftest import PASSWORD, World

HTMX = {"HX-Request": "true"}


def csrf_token(client: TestClient) -> str:
    """The token a page would embed: the CSRF cookie's value (a page load sets it)."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/login")
    return client.cookies[CSRF_COOKIE]


def send(
    client: TestClient,
    url: str,
    data: dict[str, str] | None = None,
    *,
    htmx: bool = False,
    target: str | None = None,
    boosted: bool = False,
    csrf: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """POST as a page of the shell would: with the CSRF header, optionally as htmx."""
    headers: dict[str, str] = dict(kwargs.pop("headers", {}))
    if csrf:
        headers[CSRF_HEADER] = csrf_token(client)
    if htmx or boosted or target:
        headers |= HTMX
    if boosted:
        headers["HX-Boosted"] = "true"
    if target:
        headers["HX-Target"] = target
    return client.post(url, data=data or {}, headers=headers, follow_redirects=False, **kwargs)


def login(
    client: TestClient, who: str, password: str = PASSWORD, next_path: str | None = None
) -> httpx.Response:
    data = {"email": f"{who}@example.com", "password": password}
    if next_path is not None:
        data["next"] = next_path
    return send(client, "/login", data)


@pytest.fixture
def signed_in(app: FastAPI, world: World) -> Iterator[Callable[[str], TestClient]]:
    """signed_in("alice") -> a new browser-like client, logged in through the login form.
    Each call is a browser of its own, so two people (or two sessions of one person) can act
    side by side."""
    opened: list[TestClient] = []

    def make(who: str) -> TestClient:
        browser = TestClient(app, raise_server_exceptions=False)
        browser.__enter__()
        opened.append(browser)
        response = login(browser, who)
        assert response.status_code == 303, response.text
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)
