"""``opsyard db``: apply and inspect the migrations of core and every installed plugin."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click
from alembic.script import ScriptDirectory

from opsyard.cli.runtime import open_portal
from opsyard.context import PortalContext
from opsyard.db import migrations


@click.group()
def db() -> None:
    """Database schema: apply and inspect migrations."""


@db.command()
def migrate() -> None:
    """Apply every pending migration of core and the installed plugins.

    Safe to run again: with nothing pending it changes nothing.
    """
    with open_portal(require_migrated=False) as ctx:
        applied = migrations.migrate(ctx.engine, ctx.registry)
        described = _describe(ctx, applied)
    if not described:
        click.echo("already at head: nothing to apply")
        return
    for line in described:
        click.echo(f"applied {line}")
    click.echo(f"applied {len(described)} migration{'s' if len(described) != 1 else ''}; at head")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_context
def status(click_ctx: click.Context, as_json: bool) -> None:
    """Show applied and pending migrations. Exits with 1 when any is pending."""
    with open_portal(require_migrated=False) as ctx:
        state = migrations.status(ctx.engine, ctx.registry)
        pending = _describe(ctx, state.pending)
    if as_json:
        report = {
            "current": sorted(state.current),
            "heads": sorted(state.heads),
            "pending": list(state.pending),
            "at_head": state.at_head,
        }
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"current: {', '.join(sorted(state.current)) or 'none (empty database)'}")
        click.echo(f"heads:   {', '.join(sorted(state.heads))}")
        if state.at_head:
            click.echo("at head: nothing pending")
        else:
            click.echo(f"pending: {len(pending)} (run 'opsyard db migrate')")
            for line in pending:
                click.echo(f"  {line}")
    if not state.at_head:
        click_ctx.exit(1)


def _describe(ctx: PortalContext, revision_ids: Sequence[str]) -> list[str]:
    """'<id>  <message> [<branch>]' for each revision."""
    script = ScriptDirectory.from_config(migrations.alembic_config(ctx.engine, ctx.registry))
    lines = []
    for revision_id in revision_ids:
        revision = script.get_revision(revision_id)
        if revision is None:
            lines.append(revision_id)
            continue
        labels = sorted(revision.branch_labels)
        branches = f" [{', '.join(labels)}]" if labels else ""
        message = next(iter((revision.doc or "").strip().splitlines()), "")
        lines.append(f"{revision_id}  {message}{branches}".rstrip())
    return lines
