"""Printing command results: aligned tables for people, JSON arrays for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import click

Row = Mapping[str, Any]
# (key in the row, column header)
Columns = Sequence[tuple[str, str]]

# The flag every listing command takes; its value reaches the command as `as_json`.
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def print_rows(rows: Sequence[Row], columns: Columns, *, as_json: bool, empty: str) -> None:
    """Print `rows` as a JSON array (every key) or as a table (the keys in `columns`)."""
    if as_json:
        print_json(rows)
    else:
        print_table(rows, columns, empty=empty)


def print_json(rows: Sequence[Row]) -> None:
    click.echo(json.dumps([dict(row) for row in rows], indent=2, default=_json_default))


def print_table(rows: Sequence[Row], columns: Columns, *, empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    headers = [header for _, header in columns]
    cells = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    for line in [headers, *cells]:
        click.echo(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def cell(value: Any) -> str:
    """How one value reads in a table."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
