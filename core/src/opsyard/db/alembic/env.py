"""Alembic environment: runs against the engine opsyard hands over in `config.attributes`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import opsyard.db.models  # noqa: F401  (registers core tables on the metadata)
from opsyard.db.base import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through 'opsyard db migrate', not the alembic CLI")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
