"""What a running portal holds: settings, database, plugins and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opsyard.config import Settings
from opsyard.db.engine import make_engine, make_session_factory
from opsyard.observability import Metrics
from opsyard.plugins import PluginRegistry, create_registry


@dataclass
class PortalContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: PluginRegistry
    metrics: Metrics


def build_context(
    settings: Settings, *, registry: PluginRegistry | None = None, engine: Engine | None = None
) -> PortalContext:
    engine = engine or make_engine(settings.database_url)
    return PortalContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        registry=registry or create_registry(load_entrypoints=settings.load_plugins),
        metrics=Metrics(),
    )
