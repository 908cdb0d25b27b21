"""/livez, /readyz, /metrics, JSON logs and the OpenAPI docs."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient
from sqlalchemy import text

from opsyard.app import create_app
from opsyard.config import Settings
from opsyard.context import build_context
from opsyard.observability import configure_logging
from opsyard.plugins import PluginRegistry
from tests.conftest import TEST_SECRET, World


def test_livez_answers_anonymously(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}


def test_readyz_checks_database_and_migrations(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    assert "broker" not in body["checks"]


def test_readyz_is_503_with_pending_migrations(tmp_path, registry: PluginRegistry) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", secret_key=TEST_SECRET)
    ctx = build_context(settings, registry=registry)
    with TestClient(create_app(settings, context=ctx)) as client:
        response = client.get("/readyz")
    ctx.engine.dispose()
    assert response.status_code == 503
    assert "opsyard db migrate" in response.json()["checks"]["migrations"]["detail"]


def test_readyz_reports_an_unreachable_broker(settings: Settings, registry: PluginRegistry) -> None:
    # Port 9 (discard) is closed on loopback here; the check must say so, not hang.
    broken = settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"})
    ctx = build_context(broken, registry=registry)
    with TestClient(create_app(broken, context=ctx)) as client:
        body = client.get("/readyz").json()
    ctx.engine.dispose()
    assert body["checks"]["broker"]["ok"] is False
    assert body["status"] == "not ready"


def test_metrics_need_an_admin_and_count_requests(client: TestClient, world: World) -> None:
    client.get("/api/v1/me", headers=world.auth("alice"))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=world.auth("alice")).status_code == 403
    response = client.get("/metrics", headers=world.auth("root"))
    assert response.status_code == 200
    assert (
        'opsyard_http_requests_total{method="GET",route="/api/v1/me",status="200"}' in response.text
    )


def test_openapi_and_docs_need_a_signed_in_user(client: TestClient, world: World) -> None:
    assert client.get("/openapi.json").status_code == 401
    schema = client.get("/openapi.json", headers=world.auth("vera")).json()
    assert "/api/v1/teams/{team}/members" in schema["paths"]
    docs = client.get("/docs", headers=world.auth("vera"))
    assert docs.status_code == 200 and "/static/api-docs/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/api-docs/swagger-ui-bundle.js").status_code == 200


def test_json_logs_carry_the_request_id(client: TestClient, world: World, capsys) -> None:
    configure_logging(log_format="json")
    try:
        response = client.get("/api/v1/teams/alpha/fixture/boom", headers=world.auth("alice"))
        lines = [
            json.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")
        ]
    finally:
        logging.getLogger().handlers.clear()
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and errors[-1]["request_id"] == response.headers["x-request-id"]


def test_database_down_makes_readyz_503(settings: Settings, registry: PluginRegistry) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    )
    ctx = build_context(broken, registry=registry)
    with TestClient(create_app(broken, context=ctx)) as client:
        response = client.get("/readyz")
        assert client.get("/livez").status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert "nobody" not in response.text


def test_sqlite_pragmas_are_on(world: World) -> None:
    if world.ctx.engine.dialect.name != "sqlite":
        return
    with world.ctx.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
