"""Request ids, structured logs and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextvars import ContextVar

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the id of the request being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def configure_logging(*, level: str = "INFO", log_format: str = "auto") -> None:
    """JSON lines when stderr is not a terminal (or when asked), readable text otherwise."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if use_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"levelname": "level", "asctime": "time"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class Metrics:
    """The portal's Prometheus metrics, in a registry of their own so tests can build many
    apps in one process without duplicate-metric errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opsyard_http_requests",
            "HTTP requests served, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "opsyard_http_request_duration_seconds",
            "Time to serve an HTTP request, by route template.",
            ["route", "method"],
            registry=self.registry,
        )


class RequestContextMiddleware:
    """Gives each request an id (or keeps a sane one from the client), returns it in a
    header, and records the request in the metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _acceptable_id(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            template = self._template(scope)
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
            request_id_var.reset(token)

    def _template(self, scope: Scope) -> str:
        """The full path template of the matched route, e.g. ``/api/v1/teams/{team}``.

        FastAPI puts the route object in the scope, whose own path lacks the prefixes it was
        included under; the full templates come from the app's route table, read once.
        """
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._templates is None:
            self._templates = {
                id(context.original_route): context.path or ""
                for context in iter_route_contexts(scope["app"].routes)
            }
        template = self._templates.get(id(route)) or getattr(route, "path", None)
        return str(template or "unmatched")


def _acceptable_id(value: str) -> bool:
    return 8 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
