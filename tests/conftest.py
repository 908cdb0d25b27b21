"""Shared fixtures: a migrated database per backend, the app, and a small world of users.

Every test that uses the database runs once on SQLite and, when OPSYARD_TEST_DATABASE_URL names
a PostgreSQL server, once more on PostgreSQL. Under CI=true PostgreSQL is mandatory.

Each backend's database is migrated once per session (per xdist worker), and the world (users,
teams, tokens) is made in it once, through the same service calls a test would make. Every
test then starts from a clean copy of one of those two states: empty, or holding the world
when the test asks for ``world``. On SQLite the copy is a file copy; on PostgreSQL the one
database is put back into the recorded state in a single transaction.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from opsyard.app import create_app
from opsyard.auth import passwords, tokens, users
from opsyard.auth.models import User
from opsyard.auth.passwords import hash_password
from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext, build_context
from opsyard.db import migrations
from opsyard.db.engine import make_engine, make_session_factory, session_scope
from opsyard.plugins import PluginRegistry, create_registry
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team

TEST_SECRET = "test-secret-key-not-for-production-0123456789"
PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get("OPSYARD_TEST_DATABASE_URL", "")
# "gw0", "gw1", ... under pytest-xdist: each worker has databases of its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# argon2's recommended parameters cost about half a second per hash on a 2-core machine and
# the tests log in through forms all the time; cheap parameters, same code path.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError(
            "CI=true but OPSYARD_TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI"
        )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs two workers, `--dist loadgroup`), keep together
    what must not run side by side or is costly to start twice.

    - Tests with real broker workers (a `broker_url` fixture) run one after another on one
      xdist worker: each starts several worker processes, and two such clusters at once
      would starve each other on a two-core machine. (Their queues are unique per test.)
    - Browser tests share one Chromium per module; on one xdist worker it starts once.
    Everything else is isolated per test (its own database state, ports, temporary files).
    """
    for item in items:
        if "broker_url" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("brokers"))
        elif item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the garbage collector off what lives for the whole run.

    After collection nearly every object (modules, FastAPI and SQLAlchemy machinery, the
    collected tests) lives until the end, yet each full collection walks all of them again: at
    the default thresholds that was a quarter of the suite's time. Frozen, they are never
    walked; the higher first threshold makes the young collections, which each test's app
    and requests keep triggering, less frequent. Garbage is still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(scope="session")
def registry() -> PluginRegistry:
    found = create_registry(load_entrypoints=True)
    assert "fixture" in found.names, (
        "the fixture plugin is not installed; run the tests with 'make test'"
    )
    return found


@dataclass(frozen=True)
class WorldSeed:
    """What the world was made of: the ids of its people and teams, and their tokens."""

    people: dict[str, int]
    teams: dict[str, int]
    tokens: dict[str, str]


def make_world(sessions: sessionmaker[Session]) -> WorldSeed:
    """Two teams and people in every role (see `World`), made as a test would make them."""
    people: dict[str, User] = {}
    made_teams: dict[str, Team] = {}
    issued: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch, session_scope(sessions) as session:
        patch.setattr(passwords, "_hasher", FAST_HASHER)
        password_hash = hash_password(PASSWORD)
        for who in ("root", "alice", "bob", "vera", "carol"):
            people[who] = users.create_user(
                session,
                email=f"{who}@example.com",
                name=who.title(),
                is_admin=who == "root",
                actor=None,
            )
            # argon2 is slow on purpose; hash the shared test password once.
            people[who].password_hash = password_hash
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
        session.flush()
        return WorldSeed(
            people={who: user.id for who, user in people.items()},
            teams={slug: team.id for slug, team in made_teams.items()},
            tokens=issued,
        )


@dataclass(frozen=True)
class PostgresState:
    """Every non-empty table's rows (COPY text) and every sequence's position."""

    rows: dict[str, bytes]
    sequences: sql.Composed


class PostgresDatabase:
    """One migrated PostgreSQL database that is put back into a recorded state before each test.

    Restoring is one transaction: every table emptied (children first, so foreign keys
    hold), the state's rows copied back (parents first), every sequence set back to where it
    was. Identical to a fresh copy for a test, and an order of magnitude cheaper than
    TRUNCATE of every table or CREATE DATABASE ... TEMPLATE.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        engine = make_engine(url)
        order = inspect(engine).get_sorted_table_and_fkc_names()
        engine.dispose()
        # Parents before children; the last entry lists the foreign keys of cycles, if any.
        self.tables = [name for name, _ in order if name and name != "alembic_version"]
        cycles = [fkc for name, fkcs in order if name is None for fkc in fkcs]
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection = psycopg.connect(conninfo, autocommit=True)
        tables = [sql.Identifier(name) for name in reversed(self.tables)]
        if cycles:  # no order of DELETEs satisfies every foreign key
            self.emptying = sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables))
        else:  # far cheaper than TRUNCATE on tables of a few rows
            self.emptying = sql.SQL("; ").join(
                sql.SQL("DELETE FROM {}").format(table) for table in tables
            )

    def record(self) -> PostgresState:
        rows: dict[str, bytes] = {}
        with self.connection.transaction(), self.connection.cursor() as cursor:
            for name in self.tables:
                copied = sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(name))
                with cursor.copy(copied) as copy:
                    data = b"".join(bytes(block) for block in copy)
                if data:
                    rows[name] = data
            cursor.execute(
                "SELECT schemaname, sequencename, start_value, last_value FROM pg_sequences"
                " WHERE schemaname = current_schema() ORDER BY sequencename"
            )
            positions = [
                sql.SQL("setval({}, {}, {})").format(
                    sql.Literal(f'"{schema}"."{name}"'),
                    sql.Literal(start if last is None else last),
                    sql.Literal(last is not None),
                )
                for schema, name, start, last in cursor.fetchall()
            ]
        sequences = sql.SQL("SELECT {}").format(sql.SQL(", ").join(positions))
        return PostgresState(rows=rows, sequences=sequences)

    def restore(self, state: PostgresState) -> None:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.execute(self.emptying)
            for name, data in state.rows.items():
                copied = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(name))
                with cursor.copy(copied) as copy:
                    copy.write(data)
            cursor.execute(state.sequences)

    def close(self) -> None:
        self.connection.close()


@dataclass
class DatabaseTemplate:
    """A migrated database that each test gets a clean copy of, empty or holding the world."""

    backend: str
    url: str
    world: WorldSeed
    sqlite_template: Path | None = None
    sqlite_world: Path | None = None
    postgres: PostgresDatabase | None = None
    postgres_empty: PostgresState | None = None
    postgres_world: PostgresState | None = None

    def fresh(self, folder: Path, *, with_world: bool) -> str:
        """The URL of a database in the state a test starts from."""
        if self.sqlite_template is not None and self.sqlite_world is not None:
            target = folder / "opsyard.db"
            shutil.copyfile(self.sqlite_world if with_world else self.sqlite_template, target)
            return f"sqlite:///{target}"
        assert self.postgres and self.postgres_empty and self.postgres_world
        self.postgres.restore(self.postgres_world if with_world else self.postgres_empty)
        return self.url


def _seeded(url: str) -> WorldSeed:
    engine = make_engine(url)
    try:
        return make_world(make_session_factory(engine))
    finally:
        engine.dispose()


def sqlite_template(registry: PluginRegistry, folder: Path) -> DatabaseTemplate:
    """Two migrated SQLite files: an empty one and one holding the world."""
    template = folder / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrations.migrate(engine, registry)
    engine.dispose()  # the last connection closing folds the WAL back into the file
    with_world = folder / "world.db"
    shutil.copyfile(template, with_world)
    seed = _seeded(f"sqlite:///{with_world}")
    return DatabaseTemplate(
        "sqlite", f"sqlite:///{template}", seed, sqlite_template=template, sqlite_world=with_world
    )


@contextmanager
def postgres_template(registry: PluginRegistry) -> Iterator[DatabaseTemplate]:
    """One migrated PostgreSQL database of this session (and xdist worker) alone."""
    name = f"opsyard_test_{WORKER}_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    database: PostgresDatabase | None = None
    try:
        engine = make_engine(url)
        migrations.migrate(engine, registry)
        engine.dispose()
        database = PostgresDatabase(url)
        empty = database.record()
        seed = _seeded(url)
        with_world = database.record()
        yield DatabaseTemplate(
            "postgresql",
            url,
            seed,
            postgres=database,
            postgres_empty=empty,
            postgres_world=with_world,
        )
    finally:
        if database is not None:
            database.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=_backends())
def migrated_database(
    request: pytest.FixtureRequest,
    registry: PluginRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DatabaseTemplate]:
    if request.param == "sqlite":
        yield sqlite_template(registry, tmp_path_factory.mktemp("sqlite"))
        return
    with postgres_template(registry) as template:
        yield template


_WORLD_MADE = pytest.StashKey[bool]()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, migrated_database: DatabaseTemplate, tmp_path: Path
) -> str:
    """A migrated database for this test alone: empty, or holding the world (already made
    once per session) when the test uses `world`."""
    with_world = "world" in request.fixturenames
    request.node.stash[_WORLD_MADE] = with_world
    return migrated_database.fresh(tmp_path, with_world=with_world)


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


@pytest.fixture
def world(
    request: pytest.FixtureRequest, ctx: PortalContext, migrated_database: DatabaseTemplate
) -> World:
    """The world in this test's database, its people and teams read from it afresh."""
    if request.node.stash.get(_WORLD_MADE, False):
        seed = migrated_database.world
    else:  # asked for late (getfixturevalue): the database was handed out empty
        seed = make_world(ctx.sessions)
    with ctx.sessions() as session:
        found_people = {
            user.id: user
            for user in session.scalars(select(User).where(User.id.in_(seed.people.values())))
        }
        found_teams = {
            team.id: team
            for team in session.scalars(select(Team).where(Team.id.in_(seed.teams.values())))
        }
    return World(
        ctx=ctx,
        people={who: found_people[id_] for who, id_ in seed.people.items()},
        teams={slug: found_teams[id_] for slug, id_ in seed.teams.items()},
        tokens=dict(seed.tokens),
    )


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
