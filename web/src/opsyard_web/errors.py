"""Errors for people: a login redirect for 401, a friendly page for everything else.

Core's handlers call :func:`render_error` for every page request (it is set as
``app.state.html_error_renderer``). The page shows the error's title, detail, what to do
about it and the request id as a reference, and nothing else: never a stack trace.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from opsyard import problems
from opsyard.errors import Category, OpsyardError
from opsyard.observability import current_request_id
from opsyard_web.csrf import csrf_token
from opsyard_web.htmx import is_htmx, is_page_load
from opsyard_web.responses import html_response
from opsyard_web.templating import ENVIRONMENT_STATE

# The element of the layout where errors of in-page (non-boosted) htmx requests are shown, so
# the component that made the request stays as it was.
FLASH_TARGET = "#flash"


def render_error(request: Request, error: OpsyardError, request_id: str) -> Response:
    """The html_error_renderer core calls for page requests."""
    if error.error.status == 401:
        return login_redirect(request)
    environment: Environment = getattr(request.app.state, ENVIRONMENT_STATE)
    context = {
        "error": error,
        "request_id": request_id,
        "csrf_token": csrf_token(request),
        "signed_in": _has_session(request),
    }
    headers = {}
    if error.category is Category.RETRYABLE:
        headers["Retry-After"] = str(error.retry_after or 30)
    if is_htmx(request) and not is_page_load(request):
        body = environment.get_template("partials/error_alert.html").render(context)
        headers |= {"HX-Retarget": FLASH_TARGET, "HX-Reswap": "innerHTML"}
        return html_response(body, error.error.status, headers)
    body = environment.get_template("error.html").render(context)
    return html_response(body, error.error.status, headers)


def error_response(request: Request, error: OpsyardError) -> Response:
    """An error answered outside core's exception handlers (from a middleware), the same way
    core would: a page for browsers, problem+json for the API."""
    request_id = current_request_id()
    if problems.wants_html(request) and hasattr(request.app.state, ENVIRONMENT_STATE):
        return render_error(request, error, request_id)
    return problems.problem_response(error, request_id)


def login_redirect(request: Request) -> Response:
    """Send an anonymous visitor to the login page, remembering where they were going."""
    target = "/login"
    back = _return_path(request)
    if back not in ("", "/"):
        target += "?next=" + quote(back, safe="/")
    if is_htmx(request):
        # A redirect inside an htmx request would swap the login page into a fragment; this
        # header makes the browser navigate instead.
        return HTMLResponse("", status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _return_path(request: Request) -> str:
    """Where to come back to after logging in: the page asked for, or for a form posted from
    an expired session, the page the form was on."""
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    origin = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
    parts = urlsplit(origin)
    if parts.netloc and parts.netloc != request.url.netloc:
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _has_session(request: Request) -> bool:
    session = request.scope.get("session")
    return bool(session)
