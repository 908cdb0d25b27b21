"""The Jinja2 environment: the shell's templates plus each plugin's, autoescaped."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import (
    BaseLoader,
    BytecodeCache,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    select_autoescape,
)
from jinja2.bccache import Bucket
from markupsafe import Markup, escape

from opsyard.plugins import PluginRegistry
from opsyard_web.assets import HTMX_FILE, TEMPLATES_DIR
from opsyard_web.markdown import render_markdown

ENVIRONMENT_STATE = "web_templates"


class _ProcessBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for the whole process, so every app built in it
    (tests build one per test) compiles each template once. Jinja checks each entry against
    the template's source checksum, so an edited template is compiled again."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _ProcessBytecodeCache()


def build_environment(registry: PluginRegistry) -> Environment:
    """One environment per app. Plugin templates are reached only as "<plugin>/<file>", so a
    plugin can neither replace the shell's layout nor another plugin's pages."""
    environment = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(TEMPLATES_DIR), PrefixLoader(_plugin_loaders(registry))]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_BYTECODE,
    )
    environment.filters["when"] = when
    environment.filters["when_text"] = when_text
    environment.filters["markdown"] = render_markdown
    environment.globals["htmx_file"] = HTMX_FILE
    return environment


def _plugin_loaders(registry: PluginRegistry) -> dict[str, BaseLoader]:
    loaders: dict[str, BaseLoader] = {}
    for name in registry.names:
        package = registry.package_dir(name)
        if package is None:
            continue
        root = package / "templates"
        # The convention is templates/<plugin>/<file>; templates/<file> is accepted too, so a
        # plugin author who skipped the inner folder still gets "<plugin>/<file>".
        folders = [folder for folder in (root / name, root) if folder.is_dir()]
        if folders:
            loaders[name] = FileSystemLoader(folders)
    return loaders


def when_text(value: datetime | None) -> str:
    """A timestamp as people read it, always in UTC so every viewer sees the same."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def when(value: datetime | None) -> Markup:
    """A <time> element carrying the exact instant for machines and a readable one for people."""
    if value is None:
        return Markup("—")
    instant = value.astimezone(UTC).isoformat(timespec="seconds")
    return Markup('<time datetime="{}">{}</time>').format(instant, escape(when_text(value)))
