"""``opsyard jobs list|runs|run`` and ``/api/v1/jobs``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from opsyard.cli.main import cli
from opsyard.config import get_settings
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.extension import JobContext, JobSpec
from opsyard.jobs import service
from opsyard.jobs.catalogue import load_catalogue
from opsyard.jobs.models import Outcome
from opsyard.teams import service as teams
from tests.conftest import TEST_SECRET, World
from tests.core.jobs.helpers import catalogue_of, runs


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[World]:
    """The CLI reads its settings from the environment: point it at this test's database."""
    monkeypatch.setenv("OPSYARD_DATABASE_URL", world.ctx.settings.database_url)
    monkeypatch.setenv("OPSYARD_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("OPSYARD_LOG_LEVEL", raising=False)
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_jobs_list_shows_core_and_plugin_jobs(cli_env: World) -> None:
    table = invoke("jobs", "list")
    assert table.exit_code == 0, table.output
    assert "core.jobs.prune_runs" in table.stdout and "fixture.count_notes" in table.stdout
    rows = {row["name"]: row for row in json.loads(invoke("jobs", "list", "--json").stdout)}
    count = rows["fixture.count_notes"]
    assert (count["plugin"], count["schedule"], count["queue"]) == (
        "fixture",
        "every 5m",
        "default",
    )
    assert count["per_team"] is False
    assert datetime.fromisoformat(count["next_run"]) > datetime.now(UTC)
    assert rows["fixture.per_location"]["queue"] == "loc.<location>"


def test_jobs_run_at_replays_an_instant_and_records_the_run(cli_env: World) -> None:
    from opsyard_fixture.plugin import RECEIVED

    result = invoke("jobs", "run", "fixture.record", "--at", "2026-03-01T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout
    instant = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert RECEIVED["fixture.record"][-1].at == instant
    [run] = runs(cli_env.ctx, "fixture.record")
    assert (run.scheduled_for, run.trigger, run.outcome) == (instant, "manual", Outcome.SUCCEEDED)
    assert run.worker is not None and run.worker.startswith("cli@")
    # Without an offset the instant is UTC.
    assert invoke("jobs", "run", "fixture.record", "--at", "2026-03-01T09:00").exit_code == 0
    assert RECEIVED["fixture.record"][-1].at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    listed = json.loads(invoke("jobs", "runs", "fixture.record", "--json", "--limit", "1").stdout)
    assert [r["scheduled_for"] for r in listed] == ["2026-03-01T09:00:00+00:00"]
    table = invoke("jobs", "runs")
    assert table.exit_code == 0 and "fixture.record" in table.stdout


def test_jobs_run_runs_a_core_job(cli_env: World) -> None:
    result = invoke("jobs", "run", "core.jobs.prune_runs")
    assert result.exit_code == 0, result.output


def test_running_a_per_team_job_by_hand_checks_the_team(world: World) -> None:
    calls: list[JobContext] = []
    job = JobSpec(name="fixture.per_team", run=calls.append, interval_seconds=60, per_team=True)
    catalogue = catalogue_of(job, plugin="fixture")

    def run(team: str | None) -> str:
        try:
            ended = service.run_now(
                world.ctx, catalogue=catalogue, name=job.name, team=team, at=None, worker="t"
            )
        except OpsyardError as exc:
            return exc.code
        return ended.outcome

    assert run(None) == "jobs.bad_target"
    assert run("nobody") == "resource.not_found"
    assert run("alpha") == "succeeded"
    assert calls[-1].team_slug == "alpha"
    with session_scope(world.ctx.sessions) as session:
        beta = teams.require_by_slug(session, "beta")
        teams.disable_plugin(session, team=beta, plugin="fixture", actor=None)
    assert run("beta") == "jobs.bad_target"


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (["nope.nothing"], "jobs.unknown_job", 1),
        (["fixture.record", "--at", "yesterday"], "jobs.bad_instant", 1),
        (["fixture.record", "--team", "alpha"], "jobs.bad_target", 1),
    ],
)
def test_jobs_run_refuses_bad_input_in_one_line(
    cli_env: World, args: list[str], code: str, exit_code: int
) -> None:
    result = invoke("jobs", "run", *args)
    assert result.exit_code == exit_code
    assert result.stderr.count("\n") == 1 and f"({code})" in result.stderr


def test_a_failing_job_run_exits_non_zero(cli_env: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsyard_fixture import plugin

    def broken(_: object) -> None:
        raise RuntimeError("nope")

    monkeypatch.setattr(plugin, "_record", broken)
    result = invoke("jobs", "run", "fixture.record")
    assert result.exit_code == 3
    assert "failed" in result.stdout
    assert "(jobs.run_failed)" in result.stderr and "internal.unexpected" in result.stderr


def test_the_jobs_api_is_for_site_admins(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/jobs", headers=world.auth("alice")).status_code == 403
    assert client.get("/api/v1/jobs/runs", headers=world.auth("alice")).status_code == 403
    listed = client.get("/api/v1/jobs", headers=world.auth("root"))
    assert listed.status_code == 200
    names = {job["name"] for job in listed.json()}
    assert {"core.jobs.prune_runs", "fixture.count_notes"} <= names


def test_the_api_lists_runs_newest_first(client: TestClient, world: World) -> None:
    catalogue = load_catalogue(world.ctx.registry)
    for hour in (9, 10):
        service.run_now(
            world.ctx,
            catalogue=catalogue,
            name="fixture.record",
            team=None,
            at=datetime(2026, 3, 1, hour, tzinfo=UTC),
            worker="test@here/1",
        )
    answer = client.get(
        "/api/v1/jobs/runs",
        params={"job": "fixture.record", "limit": 1},
        headers=world.auth("root"),
    )
    assert answer.status_code == 200
    [run] = answer.json()
    assert run["scheduled_for"] == "2026-03-01T10:00:00Z"
    assert (run["outcome"], run["team"], run["attempts"]) == ("succeeded", None, 1)
    empty = client.get(
        "/api/v1/jobs/runs", params={"job": "fixture.count_notes"}, headers=world.auth("root")
    )
    assert empty.json() == []
