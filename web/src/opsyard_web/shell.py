"""Installs the web shell into the app core built (entry point ``opsyard.app``)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from opsyard import problems
from opsyard.context import PortalContext
from opsyard.plugins import PluginRegistry
from opsyard_web import pages
from opsyard_web.assets import STATIC_DIR
from opsyard_web.csrf import PortalCSRFMiddleware
from opsyard_web.errors import error_response, render_error
from opsyard_web.templating import ENVIRONMENT_STATE, build_environment


def install(app: FastAPI, ctx: PortalContext) -> None:
    """Called by core after its own routes and error handlers exist."""
    setattr(app.state, ENVIRONMENT_STATE, build_environment(ctx.registry))
    setattr(app.state, problems.HTML_RENDERER_STATE, render_error)
    app.include_router(pages.router)
    _mount_static(app, ctx.registry)
    app.add_middleware(
        PortalCSRFMiddleware,
        secret=ctx.settings.effective_secret_key(),
        secure=ctx.settings.secure_cookies,
        on_failure=error_response,
    )


def _mount_static(app: FastAPI, registry: PluginRegistry) -> None:
    # Plugins first: the shell's mount at /static would otherwise swallow /static/plugins/...
    for name in registry.names:
        package = registry.package_dir(name)
        folder = package / "static" if package is not None else None
        if folder is not None and folder.is_dir():
            app.mount(
                f"/static/plugins/{name}",
                StaticFiles(directory=folder),
                name=f"static-{name}",
            )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
