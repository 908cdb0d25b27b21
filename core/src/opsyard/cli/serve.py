"""``opsyard serve`` and ``opsyard demo``: run the portal."""

from __future__ import annotations

import os
from pathlib import Path

import click
import uvicorn
from fastapi import FastAPI
from sqlalchemy import make_url

from opsyard import errors
from opsyard.app import create_app
from opsyard.cli.runtime import (
    SECRET_KEY_INSECURE,
    SECRET_KEY_MISSING,
    load_settings,
    open_portal,
    require_at_head,
)
from opsyard.config import DEMO_SECRET_KEY, Settings, get_settings
from opsyard.context import PortalContext
from opsyard.db import migrations
from opsyard.db.engine import session_scope
from opsyard.demo import DemoSummary, load_demo_data
from opsyard.errors import OpsyardError
from opsyard.observability import configure_logging

# The demo keeps its data apart from a real installation's default opsyard.db, so that
# `opsyard demo --reset` can never wipe it by accident.
DEMO_DATABASE_URL = "sqlite:///opsyard-demo.db"

HOST_OPTION = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind."
)
PORT_OPTION = click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to bind."
)


def check_secret_key(settings: Settings) -> None:
    """Refuse a missing key, and the public demo key outside demo mode."""
    if settings.demo:
        return
    if not settings.secret_key:
        raise OpsyardError(
            SECRET_KEY_MISSING,
            "OPSYARD_SECRET_KEY is not set; set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))').",
        )
    if settings.secret_key == DEMO_SECRET_KEY:
        raise OpsyardError(
            SECRET_KEY_INSECURE,
            "OPSYARD_SECRET_KEY is the public demo key; set a long random value of your own.",
        )


def check_can_serve(ctx: PortalContext) -> None:
    """Everything that must hold before the portal takes traffic."""
    check_secret_key(ctx.settings)
    require_at_head(ctx)


def run_server(app: FastAPI, *, host: str, port: int) -> None:
    """Serve until interrupted. Separate so tests can replace it."""
    # log_config=None: uvicorn's loggers go through the logging configured by opsyard.
    uvicorn.run(app, host=host, port=port, log_config=None)


def listen_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve_portal(ctx: PortalContext, *, host: str, port: int) -> None:
    check_can_serve(ctx)
    configure_logging(level=ctx.settings.log_level, log_format=ctx.settings.log_format)
    app = create_app(ctx.settings, context=ctx)
    click.echo(f"opsyard is listening on {listen_url(host, port)} (press Ctrl+C to stop)")
    run_server(app, host=host, port=port)


@click.command()
@HOST_OPTION
@PORT_OPTION
def serve(host: str, port: int) -> None:
    """Run the portal (web pages and API) in this process.

    Refuses to start while migrations are pending or OPSYARD_SECRET_KEY is unset or the
    demo key.
    """
    with open_portal(require_migrated=False) as ctx:
        serve_portal(ctx, host=host, port=port)


def demo_settings(*, host: str = "127.0.0.1", port: int = 8000) -> Settings:
    """Settings in demo mode, serving on `host`:`port`. They are put in this process's
    environment too, so that anything reading ``get_settings()`` sees the same demo
    configuration."""
    os.environ["OPSYARD_DEMO"] = "true"
    os.environ.setdefault("OPSYARD_DATABASE_URL", DEMO_DATABASE_URL)
    # Links in messages, and the demo's checks of the portal itself, use the base URL: it is
    # where this demo listens, whatever port it was given.
    os.environ.setdefault("OPSYARD_BASE_URL", listen_url(_reachable(host), port))
    # The demo's synthetic checks probe the portal's own endpoints on loopback, which the
    # target guard refuses everywhere else.
    os.environ.setdefault("OPSYARD_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()
    return load_settings()


def _reachable(host: str) -> str:
    """The address to reach a server listening on `host` from this machine."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - not a bind
    return wildcard.get(host, host)


def wipe_sqlite_database(url: str) -> Path | None:
    """Delete the SQLite file `url` names (with its WAL files); None when there was none."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "--reset only wipes SQLite databases; OPSYARD_DATABASE_URL names "
            f"a {parsed.get_backend_name()} one.",
        )
    if not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database)
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return path


def print_welcome(summary: DemoSummary, url: str) -> None:
    state = "loaded" if summary.changed else "already loaded"
    click.echo(f"demo data {state}. Log in at {url}/login with password {summary.password!r} as:")
    accounts = summary.accounts()
    width = max(len(email) for email, _ in accounts)
    for email, what in accounts:
        click.echo(f"  {email.ljust(width)}  {what}")
    for plugin, reason in summary.plugin_failures.items():
        click.echo(f"warning: demo data for plugin {plugin} failed: {reason}", err=True)


@click.command()
@HOST_OPTION
@PORT_OPTION
@click.option("--reset", is_flag=True, help="Delete the demo SQLite database first.")
def demo(host: str, port: int, reset: bool) -> None:
    """Try opsyard: demo data and a running portal, no setup.

    Migrates the database, loads the demo data once (running it again adds nothing) and
    serves. Uses ./opsyard-demo.db unless OPSYARD_DATABASE_URL is set, and the built-in demo
    secret key unless OPSYARD_SECRET_KEY is set. Never expose a demo to a network.
    """
    settings = demo_settings(host=host, port=port)
    if reset:
        wiped = wipe_sqlite_database(settings.database_url)
        if wiped is not None:
            click.echo(f"reset: deleted {wiped}")
    with open_portal(settings=settings, require_migrated=False) as ctx:
        applied = migrations.migrate(ctx.engine, ctx.registry)
        if applied:
            click.echo(f"applied {len(applied)} migrations")
        with session_scope(ctx.sessions) as session:
            summary = load_demo_data(session, ctx)
        print_welcome(summary, listen_url(host, port))
        serve_portal(ctx, host=host, port=port)
