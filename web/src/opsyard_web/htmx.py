"""What an htmx request tells the server in its headers."""

from __future__ import annotations

from starlette.requests import Request


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def is_page_load(request: Request) -> bool:
    """Whether the browser expects a whole page: a normal request, a boosted link or form
    (htmx swaps the body), or htmx restoring history."""
    return (
        not is_htmx(request)
        or request.headers.get("hx-boosted") == "true"
        or request.headers.get("hx-history-restore-request") == "true"
    )


def target_id(request: Request) -> str | None:
    """The id of the element an in-page htmx request will swap, if it has one."""
    return request.headers.get("hx-target") or None
