"""fixture plugin: notes table

Revision ID: 0001_fixture
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_fixture"
down_revision = None
branch_labels = ("fixture",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "fixture_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_fixture_notes_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixture_notes")),
    )
    op.create_index(op.f("ix_fixture_notes_team_id"), "fixture_notes", ["team_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fixture_notes_team_id"), table_name="fixture_notes")
    op.drop_table("fixture_notes")
