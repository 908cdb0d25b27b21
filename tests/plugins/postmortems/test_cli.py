"""``opsyard postmortems``, driven through click's CliRunner against the test database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opsyard.cli.main import cli
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard_postmortems import items, parking_lot, postmortems
from opsyard_postmortems.schemas import ActionItemIn, IdeaIn, PostMortemIn
from tests.conftest import World


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["postmortems", *args], catch_exceptions=False)


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def fails(*args: str, code: int = 1) -> str:
    """Run a command expected to fail; return its one-line error."""
    result = run(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    if code != 2:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
    return lines[-1]


def _postmortem(world: World, team: str, title: str, severity: str = "sev2") -> int:
    with session_scope(world.ctx.sessions) as session:
        owner = "carol" if team == "beta" else "bob"
        created = postmortems.create_postmortem(
            session,
            portal=world.ctx,
            team=session.merge(world.teams[team]),
            actor=session.merge(world.people[owner]),
            data=PostMortemIn(
                title=title,
                severity=severity,  # type: ignore[arg-type]
                incident_started_at=datetime(2026, 11, 1, 10, tzinfo=UTC),
                summary="Payments failed for **90 minutes**.",
            ),
        )
        return created.number


def _item(
    world: World, team: str, number: int, title: str, owner: str, *, days_ago: int = 0
) -> int:
    """An action item due at the end of the sprint it was created in; created `days_ago`."""
    with session_scope(world.ctx.sessions) as session:
        postmortem = postmortems.get_postmortem(
            session, team=session.merge(world.teams[team]), number=number
        )
        person = session.merge(world.people[owner])
        item = items.add_item(
            session,
            portal=world.ctx,
            postmortem=postmortem,
            actor=person,
            data=ActionItemIn(title=title, owner_id=person.id, deadline="sprint+0"),
            now=utcnow() - timedelta(days=days_ago),
        )
        return item.id


@pytest.fixture
def filled(cli_env: str, pm_world: World) -> World:
    """alpha: PM-1 (sev2) with two items, one of them overdue, and an idea; PM-2 (sev4).
    beta: PM-1 with carol's item."""
    world = pm_world
    _postmortem(world, "alpha", "Checkout errors after deploy")
    _item(world, "alpha", 1, "Canary stage", "bob")
    _item(world, "alpha", 1, "Rollback runbook", "alice", days_ago=40)
    with session_scope(world.ctx.sessions) as session:
        parking_lot.add_idea(
            session,
            postmortem=postmortems.get_postmortem(
                session, team=session.merge(world.teams["alpha"]), number=1
            ),
            actor=None,
            data=IdeaIn(text="Chaos day for payments"),
        )
    _postmortem(world, "alpha", "Slow search", severity="sev4")
    _postmortem(world, "beta", "DNS outage", severity="sev1")
    _item(world, "beta", 1, "Second resolver", "carol")
    return world


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_list_filters_and_prints_json(filled: World) -> None:
    table = ok("list", "--team", "alpha").stdout
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["PM", "SEVERITY", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["PM-2", "PM-1"]
    assert "Checkout errors after deploy" in table

    listed = _json(ok("list", "--team", "alpha", "--json"))
    assert [(p["reference"], p["open_items"], p["overdue_items"]) for p in listed] == [
        ("PM-2", 0, 0),
        ("PM-1", 2, 1),
    ]
    assert [p["number"] for p in _json(ok("list", "--team", "alpha", "--overdue", "--json"))] == [1]
    severe = _json(ok("list", "--team", "alpha", "--severity", "sev4", "--json"))
    assert [p["title"] for p in severe] == ["Slow search"]
    assert (
        ok("list", "--team", "alpha", "--status", "published").stdout
        == "alpha has no post-mortems\n"
    )
    assert (
        "Invalid value for '--severity'"
        in run("list", "--team", "alpha", "--severity", "sev9").stderr
    )


def test_show_prints_the_postmortem(filled: World) -> None:
    out = ok("show", "--team", "alpha", "1").stdout
    assert out.startswith("PM-1  Checkout errors after deploy\n")
    assert "Action items (2 of 3):" in out
    assert "Canary stage" in out and "bob@example.com" in out
    assert "open, overdue" in out
    assert "Chaos day for payments" in out

    shown = _json(ok("show", "--team", "alpha", "1", "--json"))
    assert shown["reference"] == "PM-1"
    assert [i["title"] for i in shown["items"]] == ["Canary stage", "Rollback runbook"]
    assert [i["text"] for i in shown["ideas"]] == ["Chaos day for payments"]

    assert "(postmortems.not_found)" in fails("show", "--team", "alpha", "9")
    # Team and post-mortem numbers are per team: beta's PM-1 is beta's.
    assert _json(ok("show", "--team", "beta", "1", "--json"))["title"] == "DNS outage"


def test_export_writes_markdown(filled: World, tmp_path: Path) -> None:
    text = ok("export", "--team", "alpha", "1").stdout
    assert text.startswith("# ")
    assert "Checkout errors after deploy" in text and "Canary stage" in text
    assert "**90 minutes**" in text

    target = tmp_path / "PM-1.md"
    out = ok("export", "--team", "alpha", "1", "--output", str(target)).stdout
    assert out == f"wrote PM-1 to {target}\n"
    assert target.read_text(encoding="utf-8") == text


def test_items_across_teams_overdue_and_mine(filled: World) -> None:
    def titles(*args: str) -> list[str]:
        return sorted(i["title"] for i in _json(ok("items", "--json", *args)))

    assert titles() == ["Canary stage", "Rollback runbook", "Second resolver"]
    assert titles("--team", "alpha") == ["Canary stage", "Rollback runbook"]
    assert titles("--overdue") == ["Rollback runbook"]
    assert titles("--mine", "--user", "bob@example.com") == ["Canary stage"]
    assert titles("--mine", "--user", "carol@example.com") == ["Second resolver"]
    assert titles("--status", "done") == []
    teams_of = {i["title"]: i["team"] for i in _json(ok("items", "--json"))}
    assert teams_of["Second resolver"] == "beta"

    table = ok("items", "--overdue").stdout.splitlines()
    assert table[0].split() == ["TEAM", "PM", "ITEM", "TITLE", "OWNER", "DEADLINE", "STATUS"]
    assert len(table) == 2 and "alice@example.com" in table[1] and "overdue" in table[1]

    assert "--mine needs --user" in fails("items", "--mine", code=2)
    assert "(resource.not_found)" in fails("items", "--mine", "--user", "nobody@example.com")


def test_a_team_without_the_plugin_is_refused(filled: World) -> None:
    ok("items", "--team", "beta")
    from opsyard.teams import service as teams

    with session_scope(filled.ctx.sessions) as session:
        teams.disable_plugin(
            session, team=session.merge(filled.teams["beta"]), plugin="postmortems", actor=None
        )
    assert "opsyard plugins enable postmortems --team beta" in fails("items", "--team", "beta")
    # And the teams without it drop out of the every-team list.
    assert "Second resolver" not in ok("items").stdout


def test_add_item_refuses_a_fourth(filled: World) -> None:
    out = ok(
        "add-item", "--team", "alpha", "1", "--title", "Error budget alert",
        "--owner", "bob@example.com", "--deadline", "sprint+1", "--as", "alice@example.com",
    ).stdout  # fmt: skip
    assert out.startswith("added item ") and " to PM-1, due " in out
    line = fails(
        "add-item", "--team", "alpha", "1", "--title", "Load test",
        "--owner", "bob@example.com", "--deadline", "sprint+0",
    )  # fmt: skip
    assert line.endswith("(postmortems.too_many_action_items)")
    assert "parking lot" in line
    assert len(_json(ok("show", "--team", "alpha", "1", "--json"))["items"]) == 3


def test_add_item_bad_input(filled: World) -> None:
    def add(*extra: str, owner: str = "bob@example.com", deadline: str = "sprint+0") -> str:
        return fails(
            "add-item", "--team", "alpha", "2", "--title", "Index the catalogue",
            "--owner", owner, "--deadline", deadline, *extra,
        )  # fmt: skip

    assert "(postmortems.invalid_deadline)" in add(deadline="2001-01-01")
    assert "(resource.not_found)" in add(owner="nobody@example.com")
    assert "(postmortems.owner_not_member)" in add(owner="carol@example.com")
    assert "(auth.forbidden)" in add("--as", "vera@example.com")
    assert "--tracker-url" in add("--tracker-url", "javascript:alert(1)")
    assert _json(ok("show", "--team", "alpha", "2", "--json"))["items"] == []


def test_digest_sends_now(filled: World) -> None:
    assert ok("digest", "--team", "alpha", "--user", "bob@example.com").stdout == (
        "sent 1 digest for alpha\n"
    )
    # Every owner with open items: alice and bob.
    assert ok("digest", "--team", "alpha").stdout == "sent 2 digests for alpha\n"
