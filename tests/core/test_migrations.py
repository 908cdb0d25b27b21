"""Alembic: idempotent upgrades, status, per-plugin branches, and models matching migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import opsyard.db.models  # noqa: F401  (core tables on the metadata)
import opsyard_fixture.models  # noqa: F401  (the fixture plugin's table)
from opsyard.db import migrations
from opsyard.db.base import metadata
from opsyard.db.engine import make_engine
from opsyard.plugins import PluginRegistry, create_registry


def test_a_fresh_database_has_everything_pending_then_nothing(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    before = migrations.status(engine, registry)
    assert not before.at_head
    assert before.pending[0] == "0001_core"
    assert "0001_fixture" in before.pending
    applied = migrations.migrate(engine, registry)
    assert applied == list(before.pending)
    assert migrations.migrate(engine, registry) == []
    assert migrations.status(engine, registry).at_head
    engine.dispose()


def test_a_plugin_installed_later_adds_only_its_own_tables(
    tmp_path: Path, registry: PluginRegistry
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")
    migrations.migrate(engine, create_registry(load_entrypoints=False))
    assert "fixture_notes" not in inspect(engine).get_table_names()
    # Only plugins' own first revisions are pending: core's tables are all there already.
    pending = migrations.status(engine, registry).pending
    assert "0001_fixture" in pending
    assert all(not revision.endswith("_core") for revision in pending)
    assert sorted(migrations.migrate(engine, registry)) == sorted(pending)
    assert "fixture_notes" in inspect(engine).get_table_names()
    engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to add: every model change came with its revision."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []
