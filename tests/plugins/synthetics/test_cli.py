"""``opsyard synthetics``, driven through click's CliRunner against the test database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opsyard.cli.main import cli
from opsyard.db.engine import session_scope
from opsyard_synthetics import service
from tests.conftest import World
from tests.plugins.synthetics.test_service import CHECKS

pytestmark = pytest.mark.usefixtures("cli_env")


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["synthetics", *args], input=stdin, catch_exceptions=False)


def ok(*args: str, stdin: str | None = None) -> Result:
    result = run(*args, stdin=stdin)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture
def checks_file(tmp_path: Path) -> Path:
    path = tmp_path / "checks.yaml"
    path.write_text(CHECKS, encoding="utf-8")
    return path


def test_apply_reports_then_is_idempotent(syn_world: World, checks_file: Path) -> None:
    ok("secrets", "set", "--team", "alpha", "API_KEY", "--value-stdin", stdin="s3cret\n")
    first = ok("apply", str(checks_file), "--team", "alpha").stdout
    assert "created: home" in first
    assert first.strip().endswith("3 created, 0 changed, 0 removed, 0 unchanged")
    second = ok("apply", str(checks_file), "--team", "alpha", "--json").stdout
    assert json.loads(second)["unchanged"] == ["db", "home", "login"]
    checks_file.write_text(CHECKS.replace("interval_seconds: 60", "interval_seconds: 30"))
    third = ok("apply", str(checks_file), "--team", "alpha").stdout
    assert "changed: db (interval_seconds)" in third
    listed = json.loads(ok("checks", "--team", "alpha", "--json").stdout)
    assert [row["name"] for row in listed] == ["db", "home", "login"]
    assert "30s" in ok("checks", "--team", "alpha").stdout
    with session_scope(syn_world.ctx.sessions) as session:
        team = session.merge(syn_world.teams["alpha"])
        assert service.secrets_for(session, team_id=team.id) == {"API_KEY": "s3cret"}


def test_dry_run_changes_nothing(syn_world: World, checks_file: Path) -> None:
    ok("secrets", "set", "--team", "alpha", "API_KEY", "--value-stdin", stdin="s3cret")
    out = ok("apply", str(checks_file), "--team", "alpha", "--dry-run").stdout
    assert "would be created: login" in out
    assert out.strip().endswith("dry run: 3 created, 0 changed, 0 removed, 0 unchanged")
    assert ok("checks", "--team", "alpha").stdout.strip() == "alpha has no checks."


def test_an_invalid_file_prints_one_line_per_problem(syn_world: World, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        CHECKS.replace("kind: tcp", "kind: smtp").replace("depends_on: home", "depends_on: x")
    )
    result = run("apply", str(path), "--team", "alpha")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {path}: line 13, column 5: checks[1].depends_on: there is no check named 'x' "
        "(synthetics.invalid_checks_file)",
        f"error: {path}: line 19, column 5: checks[2].kind: Input should be 'http', 'flow', "
        "'tcp', 'dns' or 'tls' (synthetics.invalid_checks_file)",
    ]
    assert ok("checks", "--team", "alpha").stdout.strip() == "alpha has no checks."


def test_an_unset_secret_is_one_error_line(syn_world: World, checks_file: Path) -> None:
    result = run("apply", str(checks_file), "--team", "alpha")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: Set these secrets before applying: API_KEY. (synthetics.unknown_secret)"
    ]


def test_export_round_trips(syn_world: World, checks_file: Path, tmp_path: Path) -> None:
    ok("secrets", "set", "--team", "alpha", "API_KEY", "--value-stdin", stdin="s3cret")
    ok("apply", str(checks_file), "--team", "alpha")
    printed = ok("export", "--team", "alpha").stdout
    out = tmp_path / "exported.yaml"
    assert "wrote" in ok("export", "--team", "alpha", "--output", str(out)).stdout
    assert out.read_text() == printed
    assert "s3cret" not in printed
    again = json.loads(ok("apply", str(out), "--team", "alpha", "--json").stdout)
    assert again["unchanged"] == ["db", "home", "login"] and not again["created"]


def test_secrets_list_names_only_and_unknown_teams_fail(syn_world: World) -> None:
    ok("secrets", "set", "--team", "alpha", "TOKEN", "--value-stdin", stdin="hunter2")
    listed = ok("secrets", "list", "--team", "alpha").stdout
    assert "TOKEN" in listed and "hunter2" not in listed
    ok("secrets", "delete", "--team", "alpha", "TOKEN")
    assert ok("secrets", "list", "--team", "alpha").stdout.strip() == "no secrets"
    missing = run("checks", "--team", "nowhere")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")
