"""``opsyard synthetics``: apply and export a team's checks as code, list them, set secrets.

Like core's commands, these act as the operator (no acting user). Every rule lives in the
service layer, so the CLI refuses what the API refuses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from opsyard import errors
from opsyard.cli.output import JSON_OPTION, print_rows
from opsyard.cli.runtime import exit_code_for, team_with_plugin, transaction
from opsyard.errors import OpsyardError
from opsyard_synthetics import service
from opsyard_synthetics.errors import INVALID_CHECKS_FILE

PLUGIN = "synthetics"

TEAM_OPTION = click.option(
    "--team", "slug", required=True, metavar="SLUG", help="The team the checks belong to."
)

CHECK_COLUMNS = [
    ("name", "NAME"),
    ("kind", "KIND"),
    ("interval", "EVERY"),
    ("locations", "LOCATIONS"),
    ("critical", "CRITICAL"),
    ("depends_on", "DEPENDS ON"),
    ("alert", "ALERT"),
]


@click.group(name=PLUGIN)
def synthetics_cli() -> None:
    """Synthetic checks as code: apply, export, list; the secrets checks use."""


@synthetics_cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@TEAM_OPTION
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@JSON_OPTION
def apply(file: Path, slug: str, dry_run: bool, as_json: bool) -> None:
    """Make the team's checks exactly those in FILE (YAML); report what changed.

    An invalid file is refused whole: one error line per problem, with its line and column.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsyardError(errors.VALIDATION_FAILED, f"Cannot read {file}: {exc}") from None
    try:
        with transaction() as (ctx, session):
            team = team_with_plugin(session, slug, PLUGIN)
            report = service.apply_checks(
                session, portal=ctx, team=team, text=text, actor=None, dry_run=dry_run
            )
    except OpsyardError as exc:
        if exc.error is not INVALID_CHECKS_FILE:
            raise
        for problem in exc.fields:
            click.echo(f"error: {file}: {problem.detail} ({exc.code})", err=True)
        raise click.exceptions.Exit(exit_code_for(exc)) from None
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
        return
    prefix = "would be " if dry_run else ""
    for label, names in (
        ("created", report.created),
        ("changed", report.changed),
        ("removed", report.removed),
        ("unchanged", report.unchanged),
    ):
        for name in names:
            fields = report.changed_fields.get(name) if label == "changed" else None
            suffix = f" ({', '.join(fields)})" if fields else ""
            click.echo(f"{prefix}{label}: {name}{suffix}")
    click.echo(
        f"{'dry run: ' if dry_run else ''}{len(report.created)} created, "
        f"{len(report.changed)} changed, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged"
    )


def _report_json(report: service.ApplyReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "changed": report.changed,
        "removed": report.removed,
        "unchanged": report.unchanged,
        "changed_fields": report.changed_fields,
        "dry_run": report.dry_run,
    }


@synthetics_cli.command("export")
@TEAM_OPTION
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_(slug: str, output: Path | None) -> None:
    """Print the team's checks as a checks file that 'apply' accepts."""
    with transaction() as (_, session):
        text = service.export_checks(session, team=team_with_plugin(session, slug, PLUGIN))
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote the checks of {slug} to {output}")


@synthetics_cli.command("checks")
@TEAM_OPTION
@JSON_OPTION
def checks_(slug: str, as_json: bool) -> None:
    """List the team's checks."""
    with transaction() as (_, session):
        checks = service.list_checks(session, team=team_with_plugin(session, slug, PLUGIN))
        names = {check.id: check.name for check in checks}
        rows = [
            {
                "name": check.name,
                "kind": check.kind,
                "interval": f"{check.interval_seconds}s",
                "locations": ",".join(check.locations) if check.locations else "all",
                "critical": "yes" if check.critical else "no",
                "depends_on": names.get(check.depends_on_id or 0, ""),
                "alert": check.alert_level,
            }
            for check in checks
        ]
    print_rows(rows, CHECK_COLUMNS, as_json=as_json, empty=f"{slug} has no checks.")


@synthetics_cli.group("secrets")
def secrets_cli() -> None:
    """The secrets checks use as {{ secrets.NAME }}; values are never shown."""


@secrets_cli.command("set")
@TEAM_OPTION
@click.argument("name")
@click.option(
    "--value-stdin",
    is_flag=True,
    help="Read the value from standard input (one trailing newline is dropped).",
)
def secrets_set(slug: str, name: str, value_stdin: bool) -> None:
    """Set or replace the secret NAME; prompts for the value unless --value-stdin."""
    if value_stdin:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        value = click.prompt(f"Value of {name}", hide_input=True)
    with transaction() as (_, session):
        service.set_secret(
            session,
            team=team_with_plugin(session, slug, PLUGIN),
            name=name,
            value=value,
            actor=None,
        )
    click.echo(f"set secret {name} for {slug}")


@secrets_cli.command("delete")
@TEAM_OPTION
@click.argument("name")
def secrets_delete(slug: str, name: str) -> None:
    """Delete the secret NAME, which no check may still use."""
    with transaction() as (_, session):
        service.delete_secret(
            session, team=team_with_plugin(session, slug, PLUGIN), name=name, actor=None
        )
    click.echo(f"deleted secret {name} of {slug}")


@secrets_cli.command("list")
@TEAM_OPTION
@JSON_OPTION
def secrets_list(slug: str, as_json: bool) -> None:
    """List the names of the team's secrets."""
    with transaction() as (_, session):
        rows = [
            {"name": secret.name, "updated_at": secret.updated_at.isoformat()}
            for secret in service.list_secrets(
                session, team=team_with_plugin(session, slug, PLUGIN)
            )
        ]
    print_rows(
        rows, [("name", "NAME"), ("updated_at", "SET AT")], as_json=as_json, empty="no secrets"
    )
