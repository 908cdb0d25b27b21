"""The ``opsyard`` group: built-in commands, plugin commands, and one place for errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Collection
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from opsyard.cli import db, plugins, serve, teams, tokens, users
from opsyard.cli.runtime import (
    DATABASE_UNAVAILABLE,
    EXIT_CODES_HELP,
    describe_database,
    fail,
    load_settings,
    plugin_registry,
)
from opsyard.errors import INTERNAL, OpsyardError

log = logging.getLogger(__name__)


class OpsyardGroup(click.Group):
    """The top-level group: turns expected errors into one line and an exit code, and adds
    the commands plugins contribute only when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_plugin_commands(self.commands)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Built-in commands never load plugins, so a broken plugin cannot break them.
        builtin = self.commands.get(cmd_name)
        if builtin is not None:
            return builtin
        return _plugin_commands(self.commands).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OpsyardError as exc:
            fail(exc)
        except OperationalError as exc:
            fail(_database_error(exc))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`opsyard users list | head -1`): nothing left to say.
            _silence_stdout()
            raise click.exceptions.Exit(1) from None
        except Exception as exc:
            if os.environ.get("OPSYARD_LOG_LEVEL", "").upper() == "DEBUG":
                raise
            message = f"unexpected {type(exc).__name__}: {exc}"
            hint = "set OPSYARD_LOG_LEVEL=DEBUG for the traceback"
            fail(OpsyardError(INTERNAL, f"{message}; {hint}"))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _database_error(exc: OperationalError) -> OpsyardError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    try:
        where = describe_database(load_settings().database_url)
    except OpsyardError:
        where = "the database"
    return OpsyardError(DATABASE_UNAVAILABLE, f"Cannot use {where}: {reason}")


def _plugin_commands(builtin: Collection[str]) -> dict[str, click.Command]:
    """The commands plugins add, by name. Anything broken is skipped with a warning."""
    try:
        registry = plugin_registry(load_settings())
    except Exception as exc:
        log.warning("plugin commands unavailable: %s", exc)
        return {}
    found: dict[str, click.Command] = {}
    for plugin, commands in registry.call_each("cli_commands"):
        try:
            candidates = list(commands or [])
        except TypeError:
            log.warning("plugin %s: cli_commands did not return a list; ignored", plugin)
            continue
        for command in candidates:
            name = getattr(command, "name", None)
            if not isinstance(command, click.Command) or not name:
                log.warning("plugin %s: %r is not a named click command; ignored", plugin, command)
            elif name in builtin or name in found:
                log.warning("plugin %s: command %r already exists; ignored", plugin, name)
            else:
                found[name] = command
    return found


@click.group(
    cls=OpsyardGroup,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="opsyard-core", prog_name="opsyard")
def cli() -> None:
    """opsyard: the self-hosted portal for engineering operations.

    Start with 'opsyard demo' to try it, or 'opsyard db migrate' then 'opsyard serve'.
    """


for _command in (
    db.db,
    users.users,
    teams.teams,
    tokens.tokens,
    plugins.plugins,
    serve.serve,
    serve.demo,
):
    cli.add_command(_command)


class _OneLineFormatter(logging.Formatter):
    """Warnings as one line, without tracebacks: the CLI's output is for people."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def configure_cli_logging() -> None:
    """Warnings to stderr, one line each, until a command (serve) sets up its own logging."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def main() -> None:
    """The ``opsyard`` console script."""
    configure_cli_logging()
    cli.main(prog_name="opsyard")
