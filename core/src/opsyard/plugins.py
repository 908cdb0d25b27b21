"""The plugin registry: loads plugins, records the ones that fail, and calls their hooks.

Plugins come from the ``opsyard.plugins`` entry-point group. A plugin that fails to import or
declares malformed hooks is recorded in ``failures`` (shown by ``opsyard plugins list`` and
``/readyz``) and skipped; the portal starts without it.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from opsyard import hookspecs
from opsyard.errors import CORE_ERROR_CODES, ErrorCatalogue
from opsyard.extension import EventType, PluginInfo

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "opsyard.plugins"

# Core modules that implement hooks like any plugin (Datasette's default_* modules). A failure
# here is a bug in core, so they are imported without the safety net plugins get.
# A plugin's name appears in URLs (/t/{team}/{plugin}/), table prefixes and event names; the
# web shell's own team pages take these names.
RESERVED_NAMES = frozenset({"settings", "audit", "core", "static", "api"})
PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

BUILTIN_MODULES: tuple[str, ...] = (
    "opsyard.notifications.hooks",
    "opsyard.events.hooks",
    "opsyard.webhooks.hooks",
    "opsyard.inbound.hooks",
    "opsyard.jobs.hooks",
    "opsyard.calendars.hooks",
)


def resolve(value: Any) -> Any:
    """Turn a hook's result into its value: call a callable, await an awaitable.

    Must not be called from inside a running event loop when the result is awaitable; core
    calls hooks from sync code (thread pool, CLI, start-up) only.
    """
    # Only plain functions count as deferred results: routers, click commands and other
    # callable objects are values in their own right.
    if inspect.isroutine(value) or isinstance(value, functools.partial):
        value = value()
    if inspect.isawaitable(value):
        return asyncio.run(_await(value))
    return value


async def _await(value: Any) -> Any:
    return await value


@dataclass
class PluginRegistry:
    """The loaded plugins and everything they declared."""

    manager: pluggy.PluginManager
    # Core's own hook implementations (jobs, webhooks, ...), always on and never listed as
    # plugins a team can switch.
    builtins: list[str] = field(default_factory=list)
    # Installed plugins that loaded, in load order.
    names: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    errors: ErrorCatalogue = field(default_factory=ErrorCatalogue)
    event_types: dict[str, EventType] = field(default_factory=dict)

    def is_installed(self, name: str) -> bool:
        return name in self.names

    def _impls(self, hook: str) -> dict[str, Any]:
        return {i.plugin_name: i for i in getattr(self.manager.hook, hook).get_hookimpls()}

    def call(self, hook: str, plugin: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of `hook`; None when it has none."""
        impl = self._impls(hook).get(plugin)
        if impl is None:
            return None
        return resolve(impl.function(**{k: kwargs[k] for k in impl.argnames}))

    def call_each(
        self, hook: str, plugins: Iterable[str] | None = None, **kwargs: Any
    ) -> Iterator[tuple[str, Any]]:
        """(plugin, result) for every plugin implementing `hook`, in load order: core's
        built-ins and all plugins, or only `plugins` when given. A plugin whose implementation
        raises is logged and skipped."""
        impls = self._impls(hook)
        everyone = [*self.builtins, *self.names]
        wanted = set(everyone if plugins is None else plugins)
        for name in everyone:
            if name not in wanted or name not in impls:
                continue
            try:
                result = self.call(hook, name, **kwargs)
            except Exception:
                log.exception("plugin %s failed in hook %s", name, hook)
                continue
            yield name, result

    def info(self, name: str) -> PluginInfo:
        info = self.call("plugin_info", name)
        return info if isinstance(info, PluginInfo) else PluginInfo(title=name)

    def package_dir(self, name: str) -> Path | None:
        """The folder of the plugin's package, where its templates/ and static/ live."""
        module = self.manager.get_plugin(name)
        file = getattr(module, "__file__", None)
        return Path(file).parent if file else None

    def version_locations(self) -> dict[str, str]:
        return {
            name: str(path) for name, path in self.call_each("alembic_version_location") if path
        }


def create_registry(
    *, load_entrypoints: bool = True, extra: Iterable[tuple[str, ModuleType | object]] = ()
) -> PluginRegistry:
    """Build the registry. Tests pass ``load_entrypoints=False`` and their plugins in `extra`."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = PluginRegistry(manager=manager)
    for module_name in BUILTIN_MODULES:
        name = f"core.{module_name.split('.')[1]}"  # opsyard.jobs.hooks -> core.jobs
        manager.register(importlib.import_module(module_name), name=name)
        registry.builtins.append(name)
    candidates: list[tuple[str, Any]] = list(extra)
    if load_entrypoints:
        candidates = [*_entry_point_plugins(registry), *candidates]
    for name, plugin in candidates:
        _register(registry, name, plugin)
    _collect_declarations(registry)
    return registry


def _entry_point_plugins(registry: PluginRegistry) -> Iterator[tuple[str, Any]]:
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=_ep_name):
        try:
            yield entry_point.name, entry_point.load()
        except Exception as exc:
            _fail(registry, entry_point.name, f"import failed: {type(exc).__name__}: {exc}")


def _ep_name(entry_point: metadata.EntryPoint) -> str:
    return entry_point.name


def _register(registry: PluginRegistry, name: str, plugin: Any) -> None:
    if name in RESERVED_NAMES or not PLUGIN_NAME.fullmatch(name):
        _fail(registry, name, "the name is reserved or not lowercase letters, digits and '_'")
        return
    if name in registry.names:
        _fail(registry, name, "another plugin is already registered under this name")
        return
    try:
        registry.manager.register(plugin, name=name)
        registry.manager.check_pending()
    except Exception as exc:
        if registry.manager.is_registered(plugin):
            registry.manager.unregister(plugin)
        _fail(registry, name, f"invalid hooks: {exc}")
        return
    registry.names.append(name)


def _fail(registry: PluginRegistry, name: str, reason: str) -> None:
    log.error("plugin %s skipped: %s", name, reason, extra={"plugin": name})
    registry.failures[name] = reason


def _collect_declarations(registry: PluginRegistry) -> None:
    """Gather error codes and event types, dropping a plugin whose declarations clash."""
    for code in CORE_ERROR_CODES:
        registry.errors.register(code)
    # Core's built-in modules declare codes through the same hook; a clash there is a bug.
    for name in registry.builtins:
        for code in registry.call("error_codes", name) or []:
            registry.errors.register(code)
    for name in list(registry.names):
        try:
            for code in registry.call("error_codes", name) or []:
                registry.errors.register(code)
            for event_type in registry.call("event_types", name) or []:
                known = registry.event_types.get(event_type.name)
                if known is not None and known != event_type:
                    raise ValueError(f"event type {event_type.name!r} is declared twice")
                registry.event_types[event_type.name] = event_type
        except Exception as exc:
            registry.names.remove(name)
            registry.manager.unregister(name=name)
            _fail(registry, name, f"bad declarations: {exc}")
