"""Conditional writes: the claim, page and result updates succeed for exactly one caller."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def changed_rows(session: Session, statement: Executable) -> int:
    """Run an INSERT or UPDATE and return how many rows it wrote; 0 means another
    transaction got there first (its WHERE no longer matched, or the row existed)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount
