"""/livez, /readyz and /metrics."""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from opsyard.api.deps import AdminPrincipal, Portal
from opsyard.context import PortalContext
from opsyard.db import migrations

log = logging.getLogger(__name__)
router = APIRouter(tags=["operability"])

BROKER_DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671}


@router.get("/livez")
def livez() -> dict[str, str]:
    """The process is up and serving. Checks nothing else, so a slow database never gets
    a healthy process restarted."""
    return {"status": "ok"}


def _check_database(ctx: PortalContext) -> dict[str, Any]:
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        return {"ok": False, "detail": f"unreachable: {type(exc).__name__}"}
    return {"ok": True}


def _check_migrations(ctx: PortalContext) -> dict[str, Any]:
    try:
        state = migrations.status(ctx.engine, ctx.registry)
    except Exception as exc:
        return {"ok": False, "detail": f"cannot read migration state: {type(exc).__name__}"}
    if state.at_head:
        return {"ok": True}
    return {
        "ok": False,
        "detail": f"{len(state.pending)} pending; run 'opsyard db migrate'",
        "pending": list(state.pending),
    }


def _check_broker(ctx: PortalContext) -> dict[str, Any] | None:
    url = ctx.settings.broker_url
    if not url:
        return None
    parts = urlsplit(url)
    port = parts.port or BROKER_DEFAULT_PORTS.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=2):
            return {"ok": True}
    except OSError as exc:
        return {"ok": False, "detail": f"unreachable: {exc.strerror or exc}"}


@router.get("/readyz")
def readyz(ctx: Portal) -> JSONResponse:
    """Ready for traffic: database reachable, migrations at head, broker reachable when one
    is configured. Plugins that failed to load are listed but do not make the portal unready;
    the rest of it still works."""
    checks: dict[str, Any] = {"database": _check_database(ctx)}
    if checks["database"]["ok"]:
        checks["migrations"] = _check_migrations(ctx)
    broker = _check_broker(ctx)
    if broker is not None:
        checks["broker"] = broker
    ready = all(c["ok"] for c in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "plugins": {"loaded": ctx.registry.names, "failed": ctx.registry.failures},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(ctx: Portal, _: AdminPrincipal) -> Response:
    """Prometheus metrics. Scrape with a site admin's API token as a bearer credential."""
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
