"""/api/v1/plugins and per-team plugin switches."""

from __future__ import annotations

from fastapi import APIRouter

from opsyard import errors
from opsyard.api.deps import CurrentPrincipal, DbSession, Portal, TeamAccess, TeamOwner
from opsyard.api.schemas import PluginFailureOut, PluginOut, PluginsOut
from opsyard.errors import OpsyardError
from opsyard.plugins import PluginRegistry
from opsyard.teams import service as teams

router = APIRouter(tags=["plugins"])


def _plugin_out(registry: PluginRegistry, name: str, enabled: bool | None = None) -> PluginOut:
    info = registry.info(name)
    return PluginOut(name=name, title=info.title, description=info.description, enabled=enabled)


def require_installed(registry: PluginRegistry, plugin: str) -> None:
    if not registry.is_installed(plugin):
        raise OpsyardError(errors.PLUGIN_NOT_INSTALLED, f"No plugin {plugin!r} is installed.")


@router.get("/plugins", response_model=PluginsOut)
def list_plugins(ctx: Portal, _: CurrentPrincipal) -> PluginsOut:
    """Installed plugins, and those that failed to load with the reason."""
    registry = ctx.registry
    return PluginsOut(
        installed=[_plugin_out(registry, n) for n in registry.names],
        failed=[PluginFailureOut(name=n, reason=r) for n, r in registry.failures.items()],
    )


@router.get("/teams/{team}/plugins", response_model=list[PluginOut])
def list_team_plugins(access: TeamAccess, ctx: Portal, session: DbSession) -> list[PluginOut]:
    enabled = teams.enabled_plugins(session, access.team)
    return [_plugin_out(ctx.registry, n, n in enabled) for n in ctx.registry.names]


@router.put("/teams/{team}/plugins/{plugin}", response_model=PluginOut)
def enable_plugin(plugin: str, access: TeamOwner, ctx: Portal, session: DbSession) -> PluginOut:
    """Switch a plugin on for the team (owners only). Idempotent."""
    require_installed(ctx.registry, plugin)
    teams.enable_plugin(session, team=access.team, plugin=plugin, actor=access.user)
    return _plugin_out(ctx.registry, plugin, True)


@router.delete("/teams/{team}/plugins/{plugin}", response_model=PluginOut)
def disable_plugin(plugin: str, access: TeamOwner, ctx: Portal, session: DbSession) -> PluginOut:
    """Switch a plugin off for the team (owners only). Its data is kept. Idempotent."""
    require_installed(ctx.registry, plugin)
    teams.disable_plugin(session, team=access.team, plugin=plugin, actor=access.user)
    return _plugin_out(ctx.registry, plugin, False)
