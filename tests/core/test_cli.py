"""The ``opsyard`` command line, driven through click's CliRunner and as the installed script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from fastapi import FastAPI
from sqlalchemy import select

from opsyard.audit.models import AuditEntry
from opsyard.auth import tokens as token_service
from opsyard.auth import users as user_service
from opsyard.cli import main as cli_main
from opsyard.cli import runtime, serve, users
from opsyard.cli.main import cli
from opsyard.config import DEMO_SECRET_KEY, Settings, get_settings
from opsyard.context import build_context
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.hookspecs import hookimpl
from opsyard.plugins import PluginRegistry, create_registry
from opsyard.roles import Role
from opsyard.teams import service as team_service
from tests.conftest import TEST_SECRET, World, point_cli_at

OPSYARD_SCRIPT = Path(sys.executable).parent / "opsyard"


@pytest.fixture
def fresh_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """An empty SQLite file that no migration has touched."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    point_cli_at(monkeypatch, url)
    yield url
    get_settings.cache_clear()


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def fails(*args: str, code: int = 1, input: str | None = None) -> str:
    """Run a command expected to fail; return its one-line error."""
    result = run(*args, input=input)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    if code != runtime.EXIT_USAGE:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return lines[0]
    return result.stderr


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def session_for(world: World) -> Any:
    return session_scope(world.ctx.sessions)


# --- the group, help and plugin commands -------------------------------------------------


def test_help_lists_builtin_and_plugin_commands(cli_env: str) -> None:
    out = ok("--help").stdout
    for name in ("db", "users", "teams", "tokens", "plugins", "serve", "demo", "fixture"):
        assert f"  {name} " in out
    assert "Exit codes:" in out and "operator must act" in out


def test_version(cli_env: str) -> None:
    assert ok("--version").stdout.startswith("opsyard, version ")


def test_plugin_command_runs(cli_env: str) -> None:
    assert ok("fixture", "hello", "ana").stdout == "hello ana\n"


class _JunkCommands:
    @hookimpl
    def cli_commands(self) -> list[Any]:
        return ["not a command", click.Command("users"), click.Command("junk-ok")]


class _RaisingCommands:
    @hookimpl
    def cli_commands(self) -> list[click.Command]:
        raise RuntimeError("broken plugin")


def test_broken_plugins_never_break_help(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = create_registry(
        load_entrypoints=False, extra=[("junk", _JunkCommands()), ("raising", _RaisingCommands())]
    )
    monkeypatch.setattr(cli_main, "plugin_registry", lambda settings: broken)
    out = ok("--help").stdout
    assert "junk-ok" in out
    # A plugin cannot replace a built-in command.
    ok("users", "list")

    def unloadable(settings: Settings) -> PluginRegistry:
        raise ImportError("no such module")

    monkeypatch.setattr(cli_main, "plugin_registry", unloadable)
    assert "users" in ok("--help").stdout
    assert run("fixture", "hello").exit_code == runtime.EXIT_USAGE


@click.command("explode")
def _explode() -> None:
    raise RuntimeError("kaboom")


class _ExplodingCommand:
    @hookimpl
    def cli_commands(self) -> list[click.Command]:
        return [_explode]


def test_unexpected_errors_are_one_line_with_exit_5(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exploding = create_registry(load_entrypoints=False, extra=[("boom", _ExplodingCommand())])
    monkeypatch.setattr(cli_main, "plugin_registry", lambda settings: exploding)
    line = fails("explode", code=5)
    assert "RuntimeError: kaboom" in line and "(internal.unexpected)" in line


def test_unknown_command_is_a_usage_error(cli_env: str) -> None:
    assert "No such command" in fails("nope", code=2)


def test_invalid_setting_is_operator_fixable(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSYARD_LOG_FORMAT", "fancy")
    get_settings.cache_clear()
    line = fails("users", "list", code=3)
    assert "OPSYARD_LOG_FORMAT" in line and "(config.invalid)" in line


def test_unreachable_database_is_operator_fixable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    point_cli_at(monkeypatch, f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    line = fails("users", "list", code=3)
    assert "(db.unavailable)" in line
    get_settings.cache_clear()


# --- db ---------------------------------------------------------------------------------


def test_db_status_and_migrate_on_a_fresh_database(fresh_sqlite: str) -> None:
    pending = run("db", "status")
    assert pending.exit_code == 1
    assert "pending" in pending.stdout and "0001_core" in pending.stdout
    report = json.loads(run("db", "status", "--json").stdout)
    assert report["at_head"] is False and "0001_core" in report["pending"]

    line = fails("users", "list", code=3)
    assert "opsyard db migrate" in line and "(db.migrations_pending)" in line

    first = ok("db", "migrate").stdout
    assert "applied 0001_core" in first and "0001_fixture" in first
    assert "already at head" in ok("db", "migrate").stdout
    assert "at head" in ok("db", "status").stdout
    report = json.loads(ok("db", "status", "--json").stdout)
    assert report == {**report, "at_head": True, "pending": []}
    ok("users", "list")


# --- users --------------------------------------------------------------------------------


def test_users_create_list_set_password_deactivate(cli_env: str, world: World) -> None:
    out = ok(
        "users",
        "create",
        "Dana@Example.com",
        "--name",
        "Dana",
        "--password-stdin",
        input="long enough pw\nignored second line\n",
    ).stdout
    assert out == "created user dana@example.com\n"
    ok("users", "create", "ops@example.com", "--admin")  # stdin is not a TTY: no password

    listed = {u["email"]: u for u in as_json(ok("users", "list", "--json"))}
    assert listed["dana@example.com"]["has_password"] is True
    assert listed["ops@example.com"] == {
        **listed["ops@example.com"],
        "is_admin": True,
        "has_password": False,
    }
    assert "dana@example.com" in ok("users", "list").stdout

    ok("users", "set-password", "ops@example.com", "--password-stdin", input="another pw!\n")
    ok("users", "deactivate", "bob@example.com")
    assert "already" in ok("users", "deactivate", "bob@example.com").stdout

    with session_for(world) as session:
        for email, password in (
            ("dana@example.com", "long enough pw"),
            ("ops@example.com", "another pw!"),
        ):
            user_service.authenticate(
                session, email=email, password=password, max_failures=5, lockout_seconds=60
            )
        bob = user_service.require_by_email(session, "bob@example.com")
        assert bob.is_active is False
        actors = set(
            session.scalars(
                select(AuditEntry.actor_label).where(
                    AuditEntry.target.in_(["dana@example.com", "bob@example.com"])
                )
            )
        )
        assert actors == {"system"}


def test_users_prompt_only_at_a_terminal(
    cli_env: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a terminal, set-password cannot ask: it says how to pass the password.
    assert "--password-stdin" in fails("users", "set-password", "bob@example.com", code=2)

    monkeypatch.setattr(users, "stdin_is_interactive", lambda: True)
    result = ok("users", "create", "tty@example.com", input="typed pw 123\ntyped pw 123\n")
    assert result.stdout == "created user tty@example.com\n"  # prompts go to stderr
    with session_for(world) as session:
        user_service.authenticate(
            session,
            email="tty@example.com",
            password="typed pw 123",
            max_failures=5,
            lockout_seconds=60,
        )


def test_users_bad_input(cli_env: str, world: World) -> None:
    assert "(request.invalid)" in fails("users", "create", "not-an-email")
    assert "(resource.conflict)" in fails("users", "create", "alice@example.com")
    assert "(request.invalid)" in fails(
        "users", "create", "short@example.com", "--password-stdin", input="short\n"
    )
    assert "(request.invalid)" in fails(
        "users", "create", "empty@example.com", "--password-stdin", input="\n"
    )
    assert "(resource.not_found)" in fails("users", "deactivate", "nobody@example.com")


# --- teams --------------------------------------------------------------------------------


def test_teams_commands(cli_env: str, world: World) -> None:
    assert (
        "owned by bob@example.com"
        in ok("teams", "create", "gamma", "--name", "Gamma", "--owner", "bob@example.com").stdout
    )
    ok("teams", "create", "delta")
    listed = {t["slug"]: t for t in as_json(ok("teams", "list", "--json"))}
    assert set(listed) == {"alpha", "beta", "gamma", "delta"}
    assert listed["gamma"]["members"] == 1 and listed["alpha"]["plugins"] == ["fixture"]
    assert "gamma" in ok("teams", "list").stdout

    ok("teams", "add-member", "gamma", "vera@example.com", "--role", "viewer")
    assert (
        "from viewer to member"
        in ok("teams", "add-member", "gamma", "vera@example.com", "--role", "member").stdout
    )
    members = {m["email"]: m["role"] for m in as_json(ok("teams", "members", "gamma", "--json"))}
    assert members == {"bob@example.com": "owner", "vera@example.com": "member"}
    assert "vera@example.com" in ok("teams", "members", "gamma").stdout

    ok("teams", "remove-member", "gamma", "vera@example.com")
    assert as_json(ok("teams", "members", "delta", "--json")) == []
    with session_for(world) as session:
        gamma = team_service.require_by_slug(session, "gamma")
        assert [m.user.email for m in team_service.members(session, gamma)] == ["bob@example.com"]


def test_teams_bad_input(cli_env: str, world: World) -> None:
    assert "(request.invalid)" in fails("teams", "create", "Not A Slug")
    assert "(resource.conflict)" in fails("teams", "create", "alpha")
    assert "(resource.not_found)" in fails("teams", "create", "x", "--owner", "no@example.com")
    assert "(resource.not_found)" in fails(
        "teams", "add-member", "nope", "bob@example.com", "--role", "member"
    )
    fails("teams", "add-member", "alpha", "bob@example.com", "--role", "boss", code=2)
    fails("teams", "add-member", "alpha", "bob@example.com", code=2)
    assert "(teams.last_owner)" in fails("teams", "remove-member", "beta", "carol@example.com")
    assert "(resource.not_found)" in fails("teams", "remove-member", "beta", "bob@example.com")


# --- tokens -------------------------------------------------------------------------------


def test_tokens_create_prints_only_a_working_token(cli_env: str, world: World) -> None:
    out = ok(
        "tokens",
        "create",
        "--user",
        "bob@example.com",
        "--team",
        "alpha",
        "--role",
        "viewer",
        "--expires-in",
        "7",
        "--name",
        "ci",
    ).stdout
    lines = out.splitlines()
    assert len(lines) == 1 and out == lines[0] + "\n"
    with session_for(world) as session:
        token = token_service.resolve(session, lines[0])
        assert token.name == "ci" and token.role == Role.VIEWER.value
        assert token.team_id == world.teams["alpha"].id


def test_tokens_list_and_revoke(cli_env: str, world: World) -> None:
    plaintext = ok("tokens", "create", "--user", "alice@example.com", "--name", "laptop").stdout
    plaintext = plaintext.strip()
    listed = as_json(ok("tokens", "list", "--user", "alice@example.com", "--json"))
    assert len(listed) == 2  # the world's token and this one
    mine = next(t for t in listed if t["name"] == "laptop")
    assert mine["status"] == "active" and mine["user"] == "alice@example.com"
    everything = ok("tokens", "list", "--json").stdout
    # opsy_<lookup id>_<secret>; the secret itself may contain underscores.
    secret = plaintext.split("_", 2)[2]
    assert secret not in everything and secret not in ok("tokens", "list").stdout
    assert len(json.loads(everything)) == len(world.people) + 1

    ok("tokens", "revoke", mine["id"])
    assert "already revoked" in ok("tokens", "revoke", mine["id"]).stdout
    listed = as_json(ok("tokens", "list", "--user", "alice@example.com", "--json"))
    assert next(t for t in listed if t["id"] == mine["id"])["status"] == "revoked"
    with session_for(world) as session, pytest.raises(OpsyardError):
        token_service.resolve(session, plaintext)


def test_tokens_bad_input(cli_env: str, world: World) -> None:
    assert "(resource.not_found)" in fails("tokens", "create", "--user", "no@example.com")
    assert "(request.invalid)" in fails(
        "tokens", "create", "--user", "bob@example.com", "--expires-in", "0"
    )
    assert "(request.invalid)" in fails(
        "tokens", "create", "--user", "bob@example.com", "--role", "owner"
    )
    assert "not a member of beta" in fails(
        "tokens", "create", "--user", "bob@example.com", "--team", "beta"
    )
    fails("tokens", "create", code=2)
    line = fails("tokens", "revoke", "opsy_0123456789ab_top-secret-part")
    assert "(resource.not_found)" in line and "top-secret-part" not in line


# --- plugins ------------------------------------------------------------------------------


def test_plugins_list(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = runtime.plugin_registry(runtime.load_settings())
    monkeypatch.setitem(registry.failures, "wobbly", "import failed: ImportError: nope")
    listed = {p["name"]: p for p in as_json(ok("plugins", "list", "--json"))}
    assert listed["fixture"]["status"] == "installed" and listed["fixture"]["title"] == "Fixture"
    assert listed["wobbly"] == {
        **listed["wobbly"],
        "status": "failed",
        "reason": "import failed: ImportError: nope",
    }
    table = ok("plugins", "list").stdout
    assert "Fixture" in table and "import failed" in table


def test_plugins_enable_disable(cli_env: str, world: World) -> None:
    ok("teams", "create", "gamma")

    def enabled() -> bool:
        with session_for(world) as session:
            team = team_service.require_by_slug(session, "gamma")
            return team_service.is_enabled(session, team, "fixture")

    assert not enabled()
    assert ok("plugins", "enable", "fixture", "--team", "gamma").stdout.startswith("enabled")
    assert enabled()
    assert "already" in ok("plugins", "enable", "fixture", "--team", "gamma").stdout
    ok("plugins", "disable", "fixture", "--team", "gamma")
    assert not enabled()

    line = fails("plugins", "enable", "nope", "--team", "gamma")
    assert "opsyard plugins list" in line and "(plugins.not_installed)" in line
    assert "opsyard plugins list" in fails("plugins", "disable", "nope", "--team", "gamma")
    assert "(resource.not_found)" in fails("plugins", "enable", "fixture", "--team", "nope")
    fails("plugins", "enable", "fixture", code=2)


# --- serve and demo -----------------------------------------------------------------------


def test_secret_key_check() -> None:
    for key in ("", DEMO_SECRET_KEY):
        with pytest.raises(OpsyardError) as refused:
            serve.check_secret_key(Settings(secret_key=key, demo=False))
        assert refused.value.code.startswith("config.secret_key")
    serve.check_secret_key(Settings(secret_key=TEST_SECRET))
    serve.check_secret_key(Settings(secret_key="", demo=True))
    serve.check_secret_key(Settings(secret_key=DEMO_SECRET_KEY, demo=True))


def test_check_can_serve_refuses_pending_migrations(
    fresh_sqlite: str, registry: PluginRegistry
) -> None:
    ctx = build_context(
        Settings(database_url=fresh_sqlite, secret_key=TEST_SECRET), registry=registry
    )
    try:
        with pytest.raises(OpsyardError) as refused:
            serve.check_can_serve(ctx)
    finally:
        ctx.engine.dispose()
    assert refused.value.code == runtime.MIGRATIONS_PENDING.code
    assert "opsyard db migrate" in refused.value.detail


class _ServerCalls(list[tuple[FastAPI, str, int]]):
    def __call__(self, app: FastAPI, *, host: str, port: int) -> None:
        self.append((app, host, port))


@pytest.fixture
def server_calls(monkeypatch: pytest.MonkeyPatch) -> _ServerCalls:
    calls = _ServerCalls()
    monkeypatch.setattr(serve, "run_server", calls)
    # serve configures logging for the whole process; keep pytest's handlers.
    monkeypatch.setattr(serve, "configure_logging", lambda **kwargs: None)
    return calls


def test_serve_refuses_then_serves(
    fresh_sqlite: str, monkeypatch: pytest.MonkeyPatch, server_calls: _ServerCalls
) -> None:
    line = fails("serve", code=3)
    assert "opsyard db migrate" in line
    ok("db", "migrate")
    for key in ("", DEMO_SECRET_KEY):
        monkeypatch.setenv("OPSYARD_SECRET_KEY", key)
        get_settings.cache_clear()
        assert "OPSYARD_SECRET_KEY" in fails("serve", code=3)
    assert server_calls == []

    monkeypatch.setenv("OPSYARD_SECRET_KEY", TEST_SECRET)
    get_settings.cache_clear()
    out = ok("serve", "--host", "127.0.0.1", "--port", "8123").stdout
    assert "http://127.0.0.1:8123" in out
    [(app, host, port)] = server_calls
    assert isinstance(app, FastAPI) and (host, port) == ("127.0.0.1", 8123)


def test_demo_command_migrates_loads_once_and_resets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server_calls: _ServerCalls
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    point_cli_at(monkeypatch, url, secret=None)
    # The demo sets these in the environment; monkeypatch puts them back afterwards.
    monkeypatch.delenv("OPSYARD_BASE_URL", raising=False)
    monkeypatch.delenv("OPSYARD_ALLOW_PRIVATE_TARGETS", raising=False)
    first = ok("demo", "--port", "8124").stdout
    assert "demo data loaded" in first and "opsyard-demo" in first
    # Its checks of the portal itself, and its links, point where it listens.
    assert os.environ["OPSYARD_BASE_URL"] == "http://127.0.0.1:8124"
    for email in ("admin@example.com", "ana@example.com", "ben@example.com", "vic@example.com"):
        assert email in first
    assert "already loaded" in ok("demo", "--port", "8124").stdout
    users_after_two = as_json(ok("users", "list", "--json"))
    assert len(users_after_two) == 4
    reset = ok("demo", "--reset").stdout
    assert "reset: deleted" in reset and "demo data loaded" in reset
    assert len(server_calls) == 3
    get_settings.cache_clear()


def test_demo_reset_only_wipes_sqlite() -> None:
    with pytest.raises(OpsyardError):
        serve.wipe_sqlite_database("postgresql+psycopg://localhost/opsyard")
    assert serve.wipe_sqlite_database("sqlite:///:memory:") is None


# --- the installed script -----------------------------------------------------------------


def _script_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSYARD_")}
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def test_installed_script_help_and_token(database_url: str, world: World) -> None:
    env = _script_env(OPSYARD_DATABASE_URL=database_url, OPSYARD_SECRET_KEY=TEST_SECRET)
    commands = {
        "help": ["--help"],
        "token": ["tokens", "create", "--user", "alice@example.com"],
        "refused": ["tokens", "create", "--user", "nobody@example.com"],
    }
    # Started together: each run pays the interpreter's start-up, which dominates.
    running = {
        name: subprocess.Popen(
            [str(OPSYARD_SCRIPT), *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, args in commands.items()
    }
    done = {name: (p.communicate(timeout=60), p.returncode) for name, p in running.items()}

    (out, err), code = done["help"]
    assert code == 0, err
    assert "fixture" in out and "Exit codes" in out

    (out, err), code = done["token"]
    assert code == 0, err
    assert out.count("\n") == 1
    with session_for(world) as session:
        token = token_service.resolve(session, out.strip())
        assert token.user_id == world.people["alice"].id

    (out, err), code = done["refused"]
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_really_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = _script_env(OPSYARD_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}")
    stdout, stderr = (tmp_path / "demo.out").open("w"), (tmp_path / "demo.err").open("w")
    process = subprocess.Popen(
        [str(OPSYARD_SCRIPT), "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=stdout,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as reply:
                    status = reply.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        output = (tmp_path / "demo.out").read_text() + (tmp_path / "demo.err").read_text()
        assert status == 200, output
        assert "ana@example.com" in output and f"http://127.0.0.1:{port}" in output
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stdout.close()
        stderr.close()
