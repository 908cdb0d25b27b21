"""HTML responses with the headers every page of the portal carries."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import HTMLResponse

PAGE_HEADERS = {
    # Pages show team data and, once, token secrets: no cache may keep a copy.
    "Cache-Control": "no-store",
    # The shell's buttons change state; no other site may frame them (clickjacking).
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Full pages and htmx fragments share URLs, so caches must keep them apart.
    "Vary": "HX-Request, HX-Target, Cookie",
}


def html_response(
    body: str, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
