"""The fixture plugin's one table, prefixed with the plugin's name like every plugin table."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from opsyard.db.base import Base


class FixtureNote(Base):
    __tablename__ = "fixture_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500))
