"""The synthetics storage: checks as code (apply, export), single checks, secrets,
maintenance windows and team settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from textwrap import dedent

import pytest
from sqlalchemy import select

from opsyard.audit.models import AuditEntry
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard_synthetics import service, slots
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.models import Check, Schedule
from tests.conftest import World

NOW = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)

CHECKS = dedent(
    """\
    version: 1
    checks:
      - name: home
        kind: http
        critical: true
        locations: [eu-west, us-east]
        quorum: {failing: 2, of: 2}
        steps:
          - url: http://127.0.0.1:9/health
            assertions: [status == 200]
      - name: login
        kind: flow
        depends_on: home
        secrets: [API_KEY]
        steps:
          - url: http://127.0.0.1:9/login
            headers: {X-Api-Key: "{{ secrets.API_KEY }}"}
      - name: db
        kind: tcp
        interval_seconds: 60
        tcp: {host: 127.0.0.1, port: 5432}
    """
)


def apply(
    world: World, text: str, *, team: str = "alpha", dry_run: bool = False
) -> service.ApplyReport:
    with session_scope(world.ctx.sessions) as session:
        return service.apply_checks(
            session,
            portal=world.ctx,
            team=session.merge(world.teams[team]),
            text=text,
            actor=session.merge(world.people["bob"]),
            dry_run=dry_run,
            now=NOW,
        )


def set_secret(world: World, name: str, value: str, *, team: str = "alpha") -> None:
    with session_scope(world.ctx.sessions) as session:
        service.set_secret(
            session, team=session.merge(world.teams[team]), name=name, value=value, actor=None
        )


def checks_of(world: World, team: str = "alpha") -> dict[str, Check]:
    with session_scope(world.ctx.sessions) as session:
        checks = service.list_checks(session, team=session.merge(world.teams[team]))
        session.expunge_all()
    return {check.name: check for check in checks}


def refusal(world: World, text: str) -> OpsyardError:
    with pytest.raises(OpsyardError) as caught:
        apply(world, text)
    return caught.value


def test_apply_creates_the_checks_with_their_columns_and_schedules(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    report = apply(syn_world, CHECKS)
    assert report == service.ApplyReport(created=["db", "home", "login"])
    checks = checks_of(syn_world)
    home, login, db = checks["home"], checks["login"], checks["db"]
    assert (home.kind, home.critical, home.locations) == ("http", True, ["eu-west", "us-east"])
    assert (home.quorum_failing, home.quorum_of, home.interval_seconds) == (2, 2, 300)
    assert home.offset_seconds == slots.offset_seconds("alpha/home", 300)
    assert db.offset_seconds == slots.offset_seconds("alpha/db", 60)
    assert login.depends_on_id == home.id
    assert service.definition_of(login).secrets == ["API_KEY"]
    with session_scope(syn_world.ctx.sessions) as session:
        rows = session.scalars(select(Schedule).where(Schedule.check_id == home.id)).all()
        assert sorted(row.location for row in rows) == ["eu-west", "us-east"]
        assert all(row.next_slot_at > NOW for row in rows)
        # A check without locations runs from every registered location.
        everywhere = session.scalars(select(Schedule).where(Schedule.check_id == db.id)).all()
        assert {row.location for row in everywhere} == set(
            service.locations.known(session, settings=syn_world.ctx.settings)
        )
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "synthetics.checks.applied")
        ).all()
        assert actions == ["synthetics.checks.applied"]


def test_a_second_apply_reports_everything_unchanged(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    apply(syn_world, CHECKS)
    before = {name: check.updated_at for name, check in checks_of(syn_world).items()}
    report = apply(syn_world, CHECKS)
    assert report == service.ApplyReport(unchanged=["db", "home", "login"])
    after = {name: check.updated_at for name, check in checks_of(syn_world).items()}
    assert after == before


def test_apply_changes_and_removes_with_a_report(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    apply(syn_world, CHECKS)
    home_id = checks_of(syn_world)["home"].id
    changed = dedent(
        """\
        version: 1
        checks:
          - name: home
            kind: http
            interval_seconds: 120
            locations: [eu-west]
            steps:
              - url: http://127.0.0.1:9/health
          - name: db
            kind: tcp
            interval_seconds: 60
            tcp: {host: 127.0.0.1, port: 5432}
          - name: dns
            kind: dns
            dns: {name: example.test}
        """
    )
    report = apply(syn_world, changed)
    assert report.created == ["dns"]
    assert report.changed == ["home"]
    assert report.removed == ["login"]
    assert report.unchanged == ["db"]
    assert report.changed_fields["home"] == [
        "interval_seconds",
        "locations",
        "critical",
        "steps",
        "quorum",
    ]
    checks = checks_of(syn_world)
    assert set(checks) == {"home", "db", "dns"}
    home = checks["home"]
    assert home.id == home_id  # changed in place: its runs and alerts stay with it
    assert (home.interval_seconds, home.critical, home.locations) == (120, False, ["eu-west"])
    assert home.offset_seconds == slots.offset_seconds("alpha/home", 120)
    with session_scope(syn_world.ctx.sessions) as session:
        rows = session.scalars(select(Schedule).where(Schedule.check_id == home_id)).all()
        assert [row.location for row in rows] == ["eu-west"]


def test_a_dry_run_changes_nothing_and_reports_the_same_diff(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    dry = apply(syn_world, CHECKS, dry_run=True)
    assert dry.created == ["db", "home", "login"] and dry.dry_run
    assert checks_of(syn_world) == {}
    real = apply(syn_world, CHECKS)
    assert (real.created, real.changed, real.removed) == (dry.created, dry.changed, dry.removed)
    emptied = apply(syn_world, "version: 1\nchecks: []\n", dry_run=True)
    assert emptied.removed == ["db", "home", "login"]
    assert set(checks_of(syn_world)) == {"db", "home", "login"}


def test_an_invalid_file_is_refused_whole_with_the_line(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    broken = CHECKS.replace("interval_seconds: 60", "interval_seconds: 5").replace(
        "depends_on: home", "depends_on: nowhere"
    )
    error = refusal(syn_world, broken)
    assert error.code == "synthetics.invalid_checks_file"
    details = {problem.pointer: problem.detail for problem in error.fields}
    assert details["/checks/1/depends_on"].startswith("line 13, column 5: checks[1].depends_on:")
    assert "nowhere" in details["/checks/1/depends_on"]
    assert details["/checks/2/interval_seconds"].startswith(
        "line 20, column 5: checks[2].interval_seconds:"
    )
    # Nothing was applied, not even the valid checks.
    assert checks_of(syn_world) == {}


def test_broken_yaml_names_its_line(syn_world: World) -> None:
    error = refusal(syn_world, "version: 1\nchecks:\n  - name: [unclosed\n")
    assert error.code == "synthetics.invalid_checks_file"
    assert len(error.fields) == 1
    assert error.fields[0].detail.startswith("line 4")


def test_a_secret_the_team_has_not_set_is_refused_by_name(syn_world: World) -> None:
    error = refusal(syn_world, CHECKS)
    assert error.code == "synthetics.unknown_secret"
    assert "API_KEY" in error.detail
    assert [problem.pointer for problem in error.fields] == ["/checks/1/secrets/0"]
    assert checks_of(syn_world) == {}
    # Another team's secret of that name does not count.
    set_secret(syn_world, "API_KEY", "theirs", team="beta")
    assert refusal(syn_world, CHECKS).code == "synthetics.unknown_secret"


def test_export_round_trips_through_apply(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    apply(syn_world, CHECKS)
    with session_scope(syn_world.ctx.sessions) as session:
        exported = service.export_checks(session, team=session.merge(syn_world.teams["alpha"]))
    assert "s3cret" not in exported
    assert "depends_on: home" in exported
    report = apply(syn_world, exported)
    assert report.unchanged == ["db", "home", "login"]
    assert not (report.created or report.changed or report.removed)
    # The export of another team is empty and applying it there changes nothing.
    set_secret(syn_world, "API_KEY", "theirs", team="beta")
    assert apply(syn_world, exported, team="beta").created == ["db", "home", "login"]
    with session_scope(syn_world.ctx.sessions) as session:
        again = service.export_checks(session, team=session.merge(syn_world.teams["beta"]))
    assert again == exported


def test_teams_keep_their_checks_apart(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    apply(syn_world, CHECKS)
    assert apply(syn_world, "version: 1\nchecks: []\n", team="beta") == service.ApplyReport()
    assert set(checks_of(syn_world)) == {"db", "home", "login"}
    with session_scope(syn_world.ctx.sessions) as session:
        beta = session.merge(syn_world.teams["beta"])
        with pytest.raises(OpsyardError) as caught:
            service.get_check(session, team=beta, name="home")
        assert caught.value.code == "synthetics.not_found"


def _definition(name: str, **extra: object) -> CheckDefinition:
    return CheckDefinition.model_validate(
        {"name": name, "kind": "http", "steps": [{"url": "http://127.0.0.1:9/"}], **extra}
    )


def test_single_checks_are_created_updated_and_deleted(syn_world: World) -> None:
    with session_scope(syn_world.ctx.sessions) as session:
        team = session.merge(syn_world.teams["alpha"])
        parent = service.create_check(
            session, portal=syn_world.ctx, team=team, definition=_definition("api"), actor=None
        )
        child = service.create_check(
            session,
            portal=syn_world.ctx,
            team=team,
            definition=_definition("page", depends_on="api"),
            actor=None,
        )
        assert child.depends_on_id == parent.id
        with pytest.raises(OpsyardError) as caught:
            service.create_check(
                session, portal=syn_world.ctx, team=team, definition=_definition("api"), actor=None
            )
        assert caught.value.code == "synthetics.check_exists"
        with pytest.raises(OpsyardError) as caught:
            service.update_check(
                session,
                portal=syn_world.ctx,
                team=team,
                name="api",
                definition=_definition("api", depends_on="page"),
                actor=None,
            )
        assert caught.value.code == "synthetics.unknown_dependency"
        with pytest.raises(OpsyardError) as caught:
            service.create_check(
                session,
                portal=syn_world.ctx,
                team=team,
                definition=_definition("other", depends_on="missing"),
                actor=None,
            )
        assert caught.value.code == "synthetics.unknown_dependency"
        updated = service.update_check(
            session,
            portal=syn_world.ctx,
            team=team,
            name="api",
            definition=_definition("api", interval_seconds=60),
            actor=None,
        )
        assert updated.interval_seconds == 60
        service.delete_check(session, team=team, name="api", actor=None)
        page = service.get_check(session, team=team, name="page")
        # The child no longer depends on it, in its definition too: an export stays valid.
        assert page.depends_on_id is None
        assert service.definition_of(page).depends_on is None
        exported = service.export_checks(session, team=team)
    assert apply(syn_world, exported).unchanged == ["page"]


def test_secrets_are_listed_by_name_and_refused_when_in_use(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "first")
    set_secret(syn_world, "API_KEY", "second")
    set_secret(syn_world, "OTHER", "x")
    apply(syn_world, CHECKS)
    with session_scope(syn_world.ctx.sessions) as session:
        team = session.merge(syn_world.teams["alpha"])
        assert service.secret_names(session, team=team) == ["API_KEY", "OTHER"]
        assert service.secrets_for(session, team_id=team.id) == {"API_KEY": "second", "OTHER": "x"}
        assert service.secrets_for(session, team_id=syn_world.teams["beta"].id) == {}
        with pytest.raises(OpsyardError) as caught:
            service.delete_secret(session, team=team, name="API_KEY", actor=None)
        assert caught.value.code == "synthetics.secret_in_use"
        assert "login" in caught.value.detail
        service.delete_secret(session, team=team, name="OTHER", actor=None)
        assert service.secret_names(session, team=team) == ["API_KEY"]
        for name, value in (("bad name", "x"), ("1ST", "x"), ("EMPTY", "")):
            with pytest.raises(OpsyardError) as caught:
                service.set_secret(session, team=team, name=name, value=value, actor=None)
            assert caught.value.code == "synthetics.invalid_secret"
        audited = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action.like("synthetics.secret.%"))
        ).all()
        assert audited and all("second" not in str(detail) for detail in audited)


def test_maintenance_windows_cover_the_team_or_one_check(syn_world: World) -> None:
    set_secret(syn_world, "API_KEY", "s3cret")
    apply(syn_world, CHECKS)
    hour = timedelta(hours=1)
    with session_scope(syn_world.ctx.sessions) as session:
        team = session.merge(syn_world.teams["alpha"])
        home = service.get_check(session, team=team, name="home")
        db = service.get_check(session, team=team, name="db")
        assert not service.in_maintenance(session, check=home, at=NOW)
        window = service.add_maintenance(
            session, team=team, starts_at=NOW, ends_at=NOW + hour, check_name="home", actor=None
        )
        assert service.in_maintenance(session, check=home, at=NOW)
        assert not service.in_maintenance(session, check=home, at=NOW + hour)
        assert not service.in_maintenance(session, check=db, at=NOW)
        service.add_maintenance(
            session, team=team, starts_at=NOW + 2 * hour, ends_at=NOW + 3 * hour, actor=None
        )
        assert service.in_maintenance(session, check=db, at=NOW + 2 * hour)
        assert len(service.list_maintenance(session, team=team)) == 2
        assert len(service.list_maintenance(session, team=team, ending_after=NOW + hour)) == 1
        service.delete_maintenance(session, team=team, window_id=window.id, actor=None)
        assert not service.in_maintenance(session, check=home, at=NOW)
        beta = session.merge(syn_world.teams["beta"])
        with pytest.raises(OpsyardError) as caught:
            service.delete_maintenance(session, team=beta, window_id=window.id + 1, actor=None)
        assert caught.value.code == "synthetics.not_found"
        for starts, ends, check in (
            (NOW, NOW, None),
            (NOW, NOW - hour, None),
            (NOW, NOW + timedelta(days=31), None),
            (NOW.replace(tzinfo=None), NOW + hour, None),
            (NOW, NOW + hour, "missing"),
        ):
            with pytest.raises(OpsyardError) as caught:
                service.add_maintenance(
                    session, team=team, starts_at=starts, ends_at=ends, check_name=check, actor=None
                )
            assert caught.value.code == "synthetics.invalid_window"


def test_settings_have_defaults_and_ranges(syn_world: World) -> None:
    with session_scope(syn_world.ctx.sessions) as session:
        team = session.merge(syn_world.teams["alpha"])
        defaults = service.settings_for(session, team=team)
        assert (defaults.public_status_page, defaults.failure_threshold) == (False, 2)
        assert (defaults.success_threshold, defaults.retention_days) == (2, 14)
        for bad in ({"failure_threshold": 0}, {"success_threshold": 11}, {"retention_days": 91}):
            values = {
                "public_status_page": True,
                "failure_threshold": 3,
                "success_threshold": 3,
                "retention_days": 30,
            } | bad
            with pytest.raises(OpsyardError) as caught:
                service.update_settings(session, team=team, actor=None, **values)  # type: ignore[arg-type]
            assert caught.value.code == "synthetics.invalid_settings"
            assert [problem.pointer for problem in caught.value.fields] == ["/" + next(iter(bad))]
        service.update_settings(
            session,
            team=team,
            actor=None,
            public_status_page=True,
            failure_threshold=3,
            success_threshold=1,
            retention_days=90,
        )
    with session_scope(syn_world.ctx.sessions) as session:
        row = service.settings_for(session, team=session.merge(syn_world.teams["alpha"]))
        assert (row.public_status_page, row.failure_threshold, row.retention_days) == (True, 3, 90)
        other = service.settings_for(session, team=session.merge(syn_world.teams["beta"]))
        assert other.public_status_page is False
