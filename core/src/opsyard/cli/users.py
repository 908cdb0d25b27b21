"""``opsyard users``: accounts and their passwords."""

from __future__ import annotations

import sys
from typing import Any

import click

from opsyard import errors
from opsyard.auth import users as user_service
from opsyard.auth.models import User
from opsyard.cli.output import print_rows
from opsyard.cli.runtime import transaction
from opsyard.errors import OpsyardError

STDIN_OPTION_HELP = "Read the password from the first line of standard input."


def stdin_is_interactive() -> bool:
    """Whether a person is typing: only then may a command prompt."""
    return sys.stdin is not None and sys.stdin.isatty()


def read_password(*, from_stdin: bool, required: bool) -> str | None:
    """The new password: from stdin's first line, typed twice at a terminal, or None
    when it is optional and nobody is there to type it."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise OpsyardError(
                errors.VALIDATION_FAILED,
                "--password-stdin was given but the first line of standard input is empty.",
            )
        return password
    if stdin_is_interactive():
        typed: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        return typed
    if required:
        raise click.UsageError(
            "Standard input is not a terminal: pass the password with --password-stdin."
        )
    return None


def user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "has_password": user.password_hash is not None,
        "created_at": user.created_at,
    }


@click.group()
def users() -> None:
    """Accounts: create, list, set passwords, deactivate."""


@users.command()
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Make the user a site admin.")
@click.option("--password-stdin", is_flag=True, help=STDIN_OPTION_HELP)
def create(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Create a user.

    At a terminal the password is asked for twice; when standard input is not a terminal
    and --password-stdin is not given, the user is created without a password (API tokens
    only, until 'opsyard users set-password').
    """
    password = read_password(from_stdin=password_stdin, required=False)
    with transaction() as (_, session):
        user = user_service.create_user(
            session, email=email, name=name, password=password, is_admin=admin, actor=None
        )
        address = user.email
    kind = "site admin" if admin else "user"
    note = "" if password is not None else " without a password"
    click.echo(f"created {kind} {address}{note}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(as_json: bool) -> None:
    """List every user."""
    with transaction() as (_, session):
        rows = [user_row(user) for user in user_service.list_users(session)]
    columns = [
        ("email", "EMAIL"),
        ("name", "NAME"),
        ("is_admin", "ADMIN"),
        ("is_active", "ACTIVE"),
        ("has_password", "PASSWORD"),
        ("created_at", "CREATED"),
    ]
    print_rows(rows, columns, as_json=as_json, empty="no users")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help=STDIN_OPTION_HELP)
def set_password(email: str, password_stdin: bool) -> None:
    """Set a user's password (signs out their sessions)."""
    password = read_password(from_stdin=password_stdin, required=True)
    assert password is not None
    with transaction() as (_, session):
        user = user_service.require_by_email(session, email)
        user_service.set_password(session, user, password, actor=None)
        address = user.email
    click.echo(f"password set for {address}; their sessions are signed out")


@users.command()
@click.argument("email")
def deactivate(email: str) -> None:
    """Deactivate a user (no more logins or token use)."""
    with transaction() as (_, session):
        user = user_service.require_by_email(session, email)
        was_active = user.is_active
        if was_active:
            user_service.deactivate(session, user, actor=None)
        address = user.email
    click.echo(f"deactivated {address}" if was_active else f"{address} was already deactivated")
