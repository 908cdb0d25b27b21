"""What every command shares: settings, the portal context, one transaction, exit codes.

Plugin commands may use ``transaction()`` too, so they get the same migration check and
error handling as core's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.config import Settings, get_settings
from opsyard.context import PortalContext, build_context
from opsyard.db import migrations
from opsyard.db.engine import session_scope
from opsyard.errors import Category, ErrorCode, OpsyardError
from opsyard.plugins import PluginRegistry, create_registry
from opsyard.teams import service as team_service
from opsyard.teams.models import Team

# Exit codes, by error category. Click itself exits with 2 on usage errors.
EXIT_USAGE = 2
EXIT_CODES: dict[Category, int] = {
    Category.USER_FIXABLE: 1,
    Category.OPERATOR_FIXABLE: 3,
    Category.RETRYABLE: 4,
    Category.FATAL: 5,
}

EXIT_CODES_HELP = """\b
Exit codes:
  0  done
  1  the input needs fixing (invalid value, unknown user or team, conflict);
     also 'db status' when migrations are pending
  2  usage: unknown command or option, missing argument
  3  an operator must act (configuration, database unreachable, pending migrations)
  4  temporary failure: try again later
  5  unexpected error
Errors are one line on stderr: 'error: <what went wrong> (<code>)'.

Settings come from OPSYARD_* environment variables (OPSYARD_DATABASE_URL,
OPSYARD_SECRET_KEY, ...)."""

MIGRATIONS_PENDING = ErrorCode(
    "db.migrations_pending",
    Category.OPERATOR_FIXABLE,
    503,
    "The database schema is behind the installed code",
    "Run 'opsyard db migrate'.",
)
DATABASE_UNAVAILABLE = ErrorCode(
    "db.unavailable",
    Category.OPERATOR_FIXABLE,
    503,
    "The database cannot be used",
    "Check OPSYARD_DATABASE_URL and that the database server is running.",
)
CONFIG_INVALID = ErrorCode(
    "config.invalid",
    Category.OPERATOR_FIXABLE,
    500,
    "A setting is not valid",
    "Fix the OPSYARD_* environment variable named in the message.",
)
# Same meaning as the code create_app raises, so both read alike.
SECRET_KEY_MISSING = ErrorCode(
    "config.secret_key_missing",
    Category.OPERATOR_FIXABLE,
    500,
    "OPSYARD_SECRET_KEY is not set",
    "Set OPSYARD_SECRET_KEY to a long random value "
    "(python -c 'import secrets; print(secrets.token_urlsafe(48))').",
)
SECRET_KEY_INSECURE = ErrorCode(
    "config.secret_key_insecure",
    Category.OPERATOR_FIXABLE,
    500,
    "OPSYARD_SECRET_KEY is the public demo key",
    "Set OPSYARD_SECRET_KEY to a long random value of your own, or run 'opsyard demo'.",
)

_registries: dict[bool, PluginRegistry] = {}


def exit_code_for(error: OpsyardError) -> int:
    return EXIT_CODES.get(error.category, EXIT_CODES[Category.FATAL])


def fail(error: OpsyardError) -> NoReturn:
    """Report an expected error as one line on stderr and exit with its category's code."""
    detail = " ".join(error.detail.split())
    click.echo(f"error: {detail} ({error.code})", err=True)
    raise click.exceptions.Exit(exit_code_for(error))


def load_settings() -> Settings:
    """The process settings; a bad OPSYARD_* value is an operator_fixable error."""
    try:
        return get_settings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "OPSYARD_" + "_".join(str(part) for part in problem["loc"]).upper()
        raise OpsyardError(CONFIG_INVALID, f"{name}: {problem['msg']}") from exc


def plugin_registry(settings: Settings) -> PluginRegistry:
    """The plugin registry, built once per process (loading plugins imports them)."""
    key = settings.load_plugins
    if key not in _registries:
        _registries[key] = create_registry(load_entrypoints=key)
    return _registries[key]


def describe_database(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def require_at_head(ctx: PortalContext) -> None:
    """Refuse to work on a database whose schema is older than the installed code."""
    state = migrations.status(ctx.engine, ctx.registry)
    if not state.at_head:
        count = len(state.pending)
        raise OpsyardError(
            MIGRATIONS_PENDING,
            f"The database {describe_database(ctx.settings.database_url)} has {count} pending "
            f"migration{'s' if count != 1 else ''}; run 'opsyard db migrate' first.",
        )


@contextmanager
def open_portal(
    *, settings: Settings | None = None, require_migrated: bool = True
) -> Iterator[PortalContext]:
    """The portal context for one command, checked to be at the latest migration."""
    settings = settings or load_settings()
    try:
        ctx = build_context(settings, registry=plugin_registry(settings))
    except ArgumentError as exc:
        raise OpsyardError(
            CONFIG_INVALID, f"OPSYARD_DATABASE_URL is not a database URL: {exc}"
        ) from exc
    try:
        if require_migrated:
            require_at_head(ctx)
        yield ctx
    finally:
        ctx.engine.dispose()


@contextmanager
def transaction() -> Iterator[tuple[PortalContext, Session]]:
    """One database transaction: committed when the block ends, rolled back on error."""
    with open_portal() as ctx, session_scope(ctx.sessions) as session:
        yield ctx, session


def team_with_plugin(session: Session, slug: str, plugin: str) -> Team:
    """The team `slug`, which must have switched `plugin` on: a plugin's commands act only
    where its pages and API would."""
    team = team_service.require_by_slug(session, slug)
    if not team_service.is_enabled(session, team, plugin):
        raise OpsyardError(
            errors.NOT_FOUND,
            f"{plugin} is not enabled for {slug}; run 'opsyard plugins enable {plugin} "
            f"--team {slug}'.",
        )
    return team
