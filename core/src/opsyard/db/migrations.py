"""Alembic, driven from code: core's revisions plus each plugin's version location.

Every plugin has its own branch (label = plugin name) that depends on core, so installing a
plugin adds heads and `upgrade heads` creates its schema without touching anyone else's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from opsyard.plugins import PluginRegistry

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


def alembic_config(engine: Engine, registry: PluginRegistry) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    locations = [str(SCRIPT_LOCATION / "versions"), *registry.version_locations().values()]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(locations))
    # env.py reuses this engine rather than building its own from a URL.
    config.attributes["engine"] = engine
    return config


@dataclass(frozen=True)
class MigrationStatus:
    current: frozenset[str]
    heads: frozenset[str]
    pending: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return not self.pending


def status(engine: Engine, registry: PluginRegistry) -> MigrationStatus:
    """Which revisions are applied, which are the heads, and which are still to run."""
    script = ScriptDirectory.from_config(alembic_config(engine, registry))
    with engine.connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    heads = frozenset(script.get_heads())
    applied: set[str] = set()
    for revision in script.iterate_revisions(tuple(current), "base"):
        applied.add(revision.revision)
    pending = [
        revision.revision
        for revision in script.walk_revisions()
        if revision.revision not in applied
    ]
    return MigrationStatus(current=current, heads=heads, pending=tuple(reversed(pending)))


def migrate(engine: Engine, registry: PluginRegistry) -> list[str]:
    """Apply every pending revision of core and all plugins; returns what was applied.

    Safe to run again: with nothing pending it changes nothing.
    """
    before = status(engine, registry)
    if before.at_head:
        return []
    command.upgrade(alembic_config(engine, registry), "heads")
    return list(before.pending)
