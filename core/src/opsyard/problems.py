"""Turns every error into RFC 9457 problem+json for the API, or an error page for the web.

No stack trace ever reaches a client: unexpected exceptions are logged with the request id and
answered as `internal.unexpected` (fatal) with that id as the reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsyard import errors
from opsyard.errors import Category, ErrorCode, FieldProblem, OpsyardError
from opsyard.observability import current_request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://opsyard.dev/problems/"

# Renders an error for a browser. The web shell sets one on `app.state.html_error_renderer`;
# without it, pages get problem+json like the API.
HtmlErrorRenderer = Callable[[Request, OpsyardError, str], Response]
HTML_RENDERER_STATE = "html_error_renderer"


def problem_body(error: OpsyardError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + error.code,
        "title": error.error.title,
        "status": error.error.status,
        "detail": error.detail,
        "instance": request_id,
        "code": error.code,
        "category": error.category.value,
        "remediation": error.error.remediation,
    }
    if error.fields:
        body["errors"] = [{"pointer": f.pointer, "detail": f.detail} for f in error.fields]
    body.update(error.extra)
    return body


def problem_response(
    error: OpsyardError, request_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    all_headers = dict(headers or {})
    if error.category is Category.RETRYABLE:
        all_headers["Retry-After"] = str(error.retry_after or 30)
    if error.error.status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="opsyard"')
    return JSONResponse(
        problem_body(error, request_id),
        status_code=error.error.status,
        media_type=PROBLEM_JSON,
        headers=all_headers,
    )


MACHINE_PATHS = ("/livez", "/readyz", "/metrics", "/openapi.json")


def wants_html(request: Request) -> bool:
    """Pages get an HTML answer; the API and the machine endpoints get problem+json."""
    path = request.url.path
    return not (path.startswith("/api/") or path in MACHINE_PATHS)


def _pointer(location: tuple[Any, ...]) -> str:
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
        prefix = "" if source == "body" else f"/{source}"
    else:
        prefix = ""
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return prefix + "".join(f"/{p}" for p in escaped)


def _fix_hint(problem: dict[str, Any]) -> str:
    message = str(problem.get("msg", "is not valid"))
    kind = str(problem.get("type", ""))
    if kind == "missing":
        return "This field is required; add it."
    if kind.startswith("extra_forbidden"):
        return "This field is not accepted; remove it."
    return f"{message}."


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem (or an error page)."""
    setattr(app.state, HTML_RENDERER_STATE, None)

    def respond(
        request: Request, error: OpsyardError, headers: dict[str, str] | None = None
    ) -> Response:
        request_id = current_request_id()
        html_renderer: HtmlErrorRenderer | None = getattr(
            request.app.state, HTML_RENDERER_STATE, None
        )
        if html_renderer is not None and wants_html(request):
            return html_renderer(request, error, request_id)
        return problem_response(error, request_id, headers)

    async def on_opsyard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpsyardError)
        return respond(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = [FieldProblem(_pointer(tuple(p["loc"])), _fix_hint(p)) for p in exc.errors()]
        detail = f"{len(fields)} field(s) need fixing." if fields else "The request is not valid."
        return respond(request, OpsyardError(errors.VALIDATION_FAILED, detail, fields=fields))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code: ErrorCode = errors.error_for_status(exc.status_code)
        if code.status != exc.status_code:
            code = ErrorCode(
                code.code, code.category, exc.status_code, code.title, code.remediation
            )
        detail = exc.detail if isinstance(exc.detail, str) else code.title
        return respond(request, OpsyardError(code, detail), dict(exc.headers or {}))

    app.add_exception_handler(OpsyardError, on_opsyard_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(UnhandledErrorMiddleware, respond=respond)


class UnhandledErrorMiddleware:
    """Answers an exception nobody handled as `internal.unexpected`, logged with the request id.

    Starlette's own last-resort handler sits outside every middleware, where the request id
    is already gone; catching here keeps the id in the log, the body and the response header.
    """

    def __init__(self, app: ASGIApp, respond: Callable[[Request, OpsyardError], Response]) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "unhandled exception serving %s %s",
                scope["method"],
                scope["path"],
                extra={"request_id": current_request_id()},
            )
            if started:
                raise
            response = self.respond(Request(scope), OpsyardError(errors.INTERNAL))
            await response(scope, receive, send)
