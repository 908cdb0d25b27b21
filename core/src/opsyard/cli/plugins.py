"""``opsyard plugins``: what is installed, what failed to load, and per-team switches."""

from __future__ import annotations

from typing import Any

import click

from opsyard import errors
from opsyard.cli.output import print_rows
from opsyard.cli.runtime import load_settings, plugin_registry, transaction
from opsyard.errors import OpsyardError
from opsyard.extension import PluginInfo
from opsyard.plugins import PluginRegistry
from opsyard.teams import service as team_service


@click.group()
def plugins() -> None:
    """Plugins: list them, switch them on and off for a team."""


def _info(registry: PluginRegistry, name: str) -> PluginInfo:
    try:
        return registry.info(name)
    except Exception:
        # A plugin whose plugin_info hook breaks is still listed, by its name.
        return PluginInfo(title=name)


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(as_json: bool) -> None:
    """List installed plugins, and those that failed to load with the reason.

    Reads no database: it shows what this installation's code provides.
    """
    registry = plugin_registry(load_settings())
    rows: list[dict[str, Any]] = []
    for name in registry.names:
        info = _info(registry, name)
        rows.append(
            {
                "name": name,
                "status": "installed",
                "title": info.title,
                "description": info.description,
                "reason": None,
            }
        )
    for name, reason in sorted(registry.failures.items()):
        rows.append(
            {"name": name, "status": "failed", "title": name, "description": "", "reason": reason}
        )
    columns = [("name", "NAME"), ("status", "STATUS"), ("title", "TITLE"), ("reason", "REASON")]
    print_rows(rows, columns, as_json=as_json, empty="no plugins installed")


def _require_installed(registry: PluginRegistry, plugin: str) -> None:
    if not registry.is_installed(plugin):
        reason = registry.failures.get(plugin)
        detail = (
            f"Plugin {plugin!r} failed to load ({reason})"
            if reason
            else f"No plugin {plugin!r} is installed"
        )
        raise OpsyardError(errors.PLUGIN_NOT_INSTALLED, f"{detail}; see 'opsyard plugins list'.")


@plugins.command()
@click.argument("plugin")
@click.option("--team", "slug", required=True, metavar="SLUG", help="The team to switch it on for.")
def enable(plugin: str, slug: str) -> None:
    """Switch PLUGIN on for a team."""
    with transaction() as (ctx, session):
        _require_installed(ctx.registry, plugin)
        team = team_service.require_by_slug(session, slug)
        changed = team_service.enable_plugin(session, team=team, plugin=plugin, actor=None)
    click.echo(
        f"enabled {plugin} for {slug}" if changed else f"{plugin} already is enabled for {slug}"
    )


@plugins.command()
@click.argument("plugin")
@click.option(
    "--team", "slug", required=True, metavar="SLUG", help="The team to switch it off for."
)
def disable(plugin: str, slug: str) -> None:
    """Switch PLUGIN off for a team; its data is kept for when it is switched back on."""
    with transaction() as (ctx, session):
        _require_installed(ctx.registry, plugin)
        team = team_service.require_by_slug(session, slug)
        changed = team_service.disable_plugin(session, team=team, plugin=plugin, actor=None)
    click.echo(
        f"disabled {plugin} for {slug}" if changed else f"{plugin} was not enabled for {slug}"
    )
