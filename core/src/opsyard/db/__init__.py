"""Storage: one MetaData, the engine and sessions, and Alembic migrations."""
