"""Shared fixtures: a migrated database per backend, the app, and a small world of users.

Every test that uses the database runs once on SQLite and, when OPSYARD_TEST_DATABASE_URL names
a PostgreSQL server, once more on PostgreSQL. Under CI=true PostgreSQL is mandatory.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.orm import Session

from opsyard.app import create_app
from opsyard.auth import passwords, tokens, users
from opsyard.auth.models import User
from opsyard.auth.passwords import hash_password
from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext, build_context
from opsyard.db import migrations
from opsyard.db.engine import make_engine, session_scope
from opsyard.plugins import PluginRegistry, create_registry
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team

TEST_SECRET = "test-secret-key-not-for-production-0123456789"
PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get("OPSYARD_TEST_DATABASE_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError(
            "CI=true but OPSYARD_TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI"
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's recommended parameters cost about half a second per hash on a 2-core machine
    and the tests log in through forms all the time; cheap parameters, same code path."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(scope="session")
def registry() -> PluginRegistry:
    found = create_registry(load_entrypoints=True)
    assert "fixture" in found.names, (
        "the fixture plugin is not installed; run the tests with 'make test'"
    )
    return found


@dataclass
class DatabaseTemplate:
    """A migrated database that each test gets a clean copy of."""

    backend: str
    url: str
    sqlite_template: Path | None = None
    tables: list[str] = field(default_factory=list)


@pytest.fixture(scope="session", params=_backends())
def migrated_database(
    request: pytest.FixtureRequest,
    registry: PluginRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DatabaseTemplate]:
    backend = request.param
    if backend == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.db"
        url = f"sqlite:///{template}"
        engine = make_engine(url)
        migrations.migrate(engine, registry)
        engine.dispose()
        yield DatabaseTemplate(backend, url, sqlite_template=template)
        return
    name = f"opsyard_test_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrations.migrate(engine, registry)
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    engine.dispose()
    try:
        yield DatabaseTemplate(backend, url, tables=tables)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(migrated_database: DatabaseTemplate, tmp_path: Path) -> str:
    """A migrated, empty database for this test alone."""
    if migrated_database.sqlite_template is not None:
        target = tmp_path / "opsyard.db"
        shutil.copyfile(migrated_database.sqlite_template, target)
        return f"sqlite:///{target}"
    engine = make_engine(migrated_database.url)
    with engine.begin() as connection:
        quoted = ", ".join(f'"{t}"' for t in migrated_database.tables)
        connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return migrated_database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        log_format="text",
        # Webhook and notification receivers in tests listen on 127.0.0.1.
        allow_private_targets=True,
        # Jobs run only where a test asks for them, never behind every app's back.
        embedded_scheduler=False,
    )


@pytest.fixture
def ctx(settings: Settings, registry: PluginRegistry) -> Iterator[PortalContext]:
    context = build_context(settings, registry=registry)
    yield context
    context.engine.dispose()


@pytest.fixture
def app(ctx: PortalContext) -> FastAPI:
    return create_app(ctx.settings, context=ctx)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class World:
    """Two teams and people in every role.

    Team ``alpha``: alice (owner), bob (member), vera (viewer). Team ``beta``: carol (owner).
    ``root`` is a site admin in no team. Each person has an unscoped API token in ``tokens``.
    """

    ctx: PortalContext
    people: dict[str, User]
    teams: dict[str, Team]
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def session(self) -> Session:
        return self.ctx.sessions()


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def world(ctx: PortalContext) -> World:
    people: dict[str, User] = {}
    made_teams: dict[str, Team] = {}
    issued: dict[str, str] = {}
    with session_scope(ctx.sessions) as session:
        for who in ("root", "alice", "bob", "vera", "carol"):
            people[who] = users.create_user(
                session,
                email=f"{who}@example.com",
                name=who.title(),
                is_admin=who == "root",
                actor=None,
            )
            # argon2 is slow on purpose; hash the shared test password once per run.
            people[who].password_hash = _password_hash()
        made_teams["alpha"] = teams.create_team(
            session, slug="alpha", name="Alpha", owner=people["alice"], actor=None
        )
        teams.add_member(
            session, team=made_teams["alpha"], user=people["bob"], role=Role.MEMBER, actor=None
        )
        teams.add_member(
            session, team=made_teams["alpha"], user=people["vera"], role=Role.VIEWER, actor=None
        )
        made_teams["beta"] = teams.create_team(
            session, slug="beta", name="Beta", owner=people["carol"], actor=None
        )
        for team in made_teams.values():
            teams.enable_plugin(session, team=team, plugin="fixture", actor=None)
        for who, user in people.items():
            issued[who] = tokens.issue(session, user=user, expires_in_days=30, actor=None).plaintext
    return World(ctx=ctx, people=people, teams=made_teams, tokens=issued)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[str]:
    """Point the CLI's settings (read from the environment) at this test's database."""
    point_cli_at(monkeypatch, database_url)
    yield database_url
    get_settings.cache_clear()


def point_cli_at(
    monkeypatch: pytest.MonkeyPatch, url: str, secret: str | None = TEST_SECRET
) -> None:
    """Make the CLI's settings, read from the environment, use the database at `url`."""
    monkeypatch.setenv("OPSYARD_DATABASE_URL", url)
    if secret is None:
        monkeypatch.delenv("OPSYARD_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("OPSYARD_SECRET_KEY", secret)
    monkeypatch.setenv("OPSYARD_LOG_FORMAT", "text")
    monkeypatch.setenv("OPSYARD_DEMO", "false")
    monkeypatch.delenv("OPSYARD_LOG_LEVEL", raising=False)
    get_settings.cache_clear()
