"""The OpenAPI schema and its interactive docs, for signed-in users and token holders only.

FastAPI serves these anonymously by default; the portal's rule is that only login, health
checks, static files and signed inbound webhooks are public.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from opsyard.api.deps import CurrentPrincipal

# swagger-ui-dist, vendored (see static/api-docs/VERSION) so the docs work with no internet.
ASSETS_URL = "/static/api-docs"
ASSETS_DIR = Path(__file__).parent.parent / "static" / "api-docs"

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi_schema(request: Request, _: CurrentPrincipal) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/docs")
def swagger_ui(_: CurrentPrincipal) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="opsyard API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.svg",
    )
