"""Builds the FastAPI application: core API, plugin routes, and any installed app extensions.

Core does not import the web shell. The shell (and anything else that wants to extend the
app as a whole) registers a function under the ``opsyard.app`` entry-point group; it is
called with the app and the portal context after core has set up its routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata

from fastapi import APIRouter, Depends, FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from opsyard import errors, problems
from opsyard.api import audit, docs, health, plugins, teams, tokens, users
from opsyard.api.deps import plugin_enabled
from opsyard.calendars import api as calendar_api
from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext, build_context
from opsyard.errors import OpsyardError
from opsyard.events import api as events_api
from opsyard.inbound import api as inbound_api
from opsyard.jobs import api as jobs_api
from opsyard.jobs import embedded as embedded_jobs
from opsyard.notifications import api as notifications_api
from opsyard.observability import RequestContextMiddleware
from opsyard.oncall import api as oncall_api
from opsyard.plugins import PluginRegistry
from opsyard.webhooks import api as webhooks_api

log = logging.getLogger(__name__)

APP_EXTENSION_GROUP = "opsyard.app"
SESSION_COOKIE = "opsyard_session"


def create_app(
    settings: Settings | None = None,
    *,
    registry: PluginRegistry | None = None,
    context: PortalContext | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    ctx = context or build_context(settings, registry=registry)
    secret = settings.effective_secret_key()
    if not secret:
        raise OpsyardError(
            errors.ErrorCode(
                "config.secret_key_missing",
                errors.Category.OPERATOR_FIXABLE,
                500,
                "OPSYARD_SECRET_KEY is not set",
                "Set OPSYARD_SECRET_KEY to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))').",
            )
        )

    app = FastAPI(
        title="opsyard",
        version=metadata.version("opsyard-core"),
        description="Self-hosted portal for engineering operations.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Runs scheduled jobs in this process when no broker is configured.
        lifespan=embedded_jobs.lifespan(ctx),
    )
    app.state.portal = ctx

    api = APIRouter(prefix="/api/v1")
    core_apis = (
        users, teams, tokens, plugins, audit,
        events_api, webhooks_api, inbound_api, notifications_api, oncall_api, jobs_api,
        calendar_api,
    )  # fmt: skip
    for module in core_apis:
        api.include_router(module.router)
    # Public: senders authenticate with the signature, which the route checks itself.
    api.include_router(inbound_api.hooks_router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS_DIR), name="api-docs-assets")
    _mount_plugin_routes(app, ctx.registry)

    problems.install(app)
    for install in _app_extensions():
        install(app, ctx)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    # Outermost, so the request id exists for everything inside, error handling included.
    app.add_middleware(RequestContextMiddleware, metrics=ctx.metrics)
    return app


def _mount_plugin_routes(app: FastAPI, registry: PluginRegistry) -> None:
    """Each plugin's routers, under its own prefix, behind the team-and-enabled check."""
    for name, router in registry.call_each("api_router", plugins=registry.names):
        if router is None:
            continue
        app.include_router(
            router,
            prefix=f"/api/v1/teams/{{team}}/{name}",
            dependencies=[Depends(plugin_enabled(name))],
            tags=[name],
        )
    for name, router in registry.call_each("web_router", plugins=registry.names):
        if router is None:
            continue
        app.include_router(
            router,
            prefix=f"/t/{{team}}/{name}",
            dependencies=[Depends(plugin_enabled(name))],
            include_in_schema=False,
        )


AppExtension = Callable[[FastAPI, PortalContext], None]


def _app_extensions() -> list[AppExtension]:
    found: list[AppExtension] = []
    for entry_point in metadata.entry_points(group=APP_EXTENSION_GROUP):
        try:
            found.append(entry_point.load())
        except Exception:
            log.exception("app extension %s failed to load; starting without it", entry_point.name)
    return found
