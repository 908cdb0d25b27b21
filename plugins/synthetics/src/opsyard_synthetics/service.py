"""A team's synthetic checks as stored: checks as code (apply, export), single checks,
secrets, maintenance windows and the team's settings.

A checks file is applied whole or not at all, in the caller's transaction: every problem is
found before the first row changes, so a refused file leaves the team's checks as they were.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams.models import Team
from opsyard_synthetics import execution, locations, slots
from opsyard_synthetics.checks_file import (
    ChecksDiff,
    ChecksFileError,
    check_problems,
    diff_checks,
    dump_checks,
    load_checks,
)
from opsyard_synthetics.definitions import IDENTIFIER_PATTERN, CheckDefinition, ChecksFile
from opsyard_synthetics.errors import (
    CHECK_EXISTS,
    INVALID_CHECK,
    INVALID_CHECKS_FILE,
    INVALID_SECRET,
    INVALID_SETTINGS,
    INVALID_WINDOW,
    NOT_FOUND,
    SECRET_IN_USE,
    UNKNOWN_DEPENDENCY,
    UNKNOWN_SECRET,
)
from opsyard_synthetics.models import Check, MaintenanceWindow, Secret, TeamSettings

DEFAULT_FAILURE_THRESHOLD = 2
DEFAULT_SUCCESS_THRESHOLD = 2
DEFAULT_RETENTION_DAYS = 14
THRESHOLD_RANGE = (1, 10)
RETENTION_RANGE = (1, 90)
MAX_SECRET_BYTES = 8 * 1024
# A window longer than this is a check that should be removed, not silenced.
MAX_WINDOW = timedelta(days=30)

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


# ---------------------------------------------------------------------------------------------
# Reading checks


def definition_of(check: Check) -> CheckDefinition:
    """The check as code, from its stored definition."""
    return CheckDefinition.model_validate(check.definition)


def list_checks(session: Session, *, team: Team) -> list[Check]:
    """The team's checks, by name."""
    return list(session.scalars(select(Check).where(Check.team_id == team.id).order_by(Check.name)))


def find_check(session: Session, *, team: Team, name: str) -> Check | None:
    """The team's check called `name`, if it has one."""
    return session.scalars(
        select(Check).where(Check.team_id == team.id, Check.name == name)
    ).one_or_none()


def get_check(session: Session, *, team: Team, name: str) -> Check:
    """The team's check called `name`; not found (404) otherwise."""
    check = find_check(session, team=team, name=name)
    if check is None:
        raise OpsyardError(NOT_FOUND, f"No check {name!r} in team {team.slug}.")
    return check


def current_definitions(session: Session, *, team: Team) -> dict[str, CheckDefinition]:
    """The team's checks as code, by name."""
    return {check.name: definition_of(check) for check in list_checks(session, team=team)}


# ---------------------------------------------------------------------------------------------
# Checks as code


@dataclass(frozen=True)
class ApplyReport:
    """What applying a checks file did (or, in a dry run, would do): check names, sorted."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # The top-level fields that changed, per changed check.
    changed_fields: dict[str, list[str]] = field(default_factory=dict)
    dry_run: bool = False

    @classmethod
    def from_diff(cls, diff: ChecksDiff, *, dry_run: bool) -> ApplyReport:
        return cls(
            created=[check.name for check in diff.created],
            changed=[change.name for change in diff.changed],
            removed=[check.name for check in diff.removed],
            unchanged=[check.name for check in diff.unchanged],
            changed_fields={change.name: change.fields for change in diff.changed},
            dry_run=dry_run,
        )


def parse_checks_file(text: str) -> ChecksFile:
    """The checks file, or the whole file refused with one field problem per fault."""
    try:
        return load_checks(text)
    except ChecksFileError as exc:
        count = len(exc.problems)
        first = exc.problems[0] if exc.problems else None
        summary = f"{count} problem{'s' if count != 1 else ''}" + (
            f", first: {first}" if first else ""
        )
        raise OpsyardError(
            INVALID_CHECKS_FILE,
            f"The checks file was refused whole ({summary}).",
            fields=[FieldProblem(problem.pointer, str(problem)) for problem in exc.problems],
        ) from None


def apply_checks(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    text: str,
    actor: User | None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ApplyReport:
    """Make the team's checks exactly those of the YAML `text`: create, change and remove.

    Idempotent: applying the same file again reports every check unchanged and writes
    nothing. A dry run checks everything and reports the same diff without writing.
    """
    desired = parse_checks_file(text)
    _require_secrets(session, team=team, checks=desired.checks, prefix="/checks")
    diff = diff_checks(current_definitions(session, team=team), desired)
    report = ApplyReport.from_diff(diff, dry_run=dry_run)
    if dry_run or not diff.has_changes:
        return report
    now = now or utcnow()
    rows = {check.name: check for check in list_checks(session, team=team)}
    for definition in [*diff.created, *(change.after for change in diff.changed)]:
        row = rows.get(definition.name)
        if row is None:
            row = Check(team_id=team.id, name=definition.name, created_at=now)
            session.add(row)
            rows[definition.name] = row
        _store(row, definition, team=team, now=now)
    removed = {check.name for check in diff.removed}
    if removed:
        ids = [rows[name].id for name in removed]
        # Children outside the file cannot exist (a file names every parent it uses), but
        # SQLite does not always enforce ON DELETE SET NULL, so the links are cut here.
        session.execute(
            update(Check).where(Check.depends_on_id.in_(ids)).values(depends_on_id=None)
        )
        session.execute(delete(Check).where(Check.id.in_(ids)))
        for name in removed:
            session.expunge(rows.pop(name))
    session.flush()
    for definition in desired.checks:
        parent = rows.get(definition.depends_on) if definition.depends_on else None
        rows[definition.name].depends_on_id = parent.id if parent is not None else None
    registry = locations.known(session, settings=portal.settings)
    for name in [*report.created, *report.changed]:
        execution.sync_schedules(session, check=rows[name], locations=registry, now=now)
    audit.record(
        session,
        actor=actor,
        action="synthetics.checks.applied",
        target=team.slug,
        team_id=team.id,
        detail={
            "created": report.created,
            "changed": report.changed,
            "removed": report.removed,
        },
    )
    session.flush()
    return report


def export_checks(session: Session, *, team: Team) -> str:
    """The team's checks as a YAML checks file that `apply_checks` accepts unchanged."""
    checks = [definition_of(check) for check in list_checks(session, team=team)]
    return dump_checks(ChecksFile(checks=checks))


def _store(row: Check, definition: CheckDefinition, *, team: Team, now: datetime) -> None:
    """Write the definition and the columns jobs and alerting query beside it."""
    row.kind = definition.kind
    row.definition = definition.model_dump(mode="json")
    row.interval_seconds = definition.interval_seconds
    row.offset_seconds = slots.offset_seconds(
        f"{team.slug}/{definition.name}", definition.interval_seconds
    )
    row.critical = definition.critical
    row.locations = list(definition.locations) if definition.locations is not None else None
    row.quorum_failing = definition.quorum.failing
    row.quorum_of = definition.quorum.of
    row.updated_at = now


def _require_secrets(
    session: Session, *, team: Team, checks: Sequence[CheckDefinition], prefix: str
) -> None:
    """Refuse checks that name a secret the team has not set, naming each one."""
    known = set(secret_names(session, team=team))
    problems: list[FieldProblem] = []
    missing: list[str] = []
    for index, check in enumerate(checks):
        for position, name in enumerate(check.secrets):
            if name not in known:
                where = f"{prefix}/{index}" if prefix == "/checks" else prefix
                problems.append(
                    FieldProblem(
                        f"{where}/secrets/{position}",
                        f"check {check.name!r} uses the secret {name!r}, which team "
                        f"{team.slug} has not set",
                    )
                )
                missing.append(name)
    if problems:
        names = ", ".join(sorted(set(missing)))
        raise OpsyardError(
            UNKNOWN_SECRET, f"Set these secrets before applying: {names}.", fields=problems
        )


# ---------------------------------------------------------------------------------------------
# One check at a time (the API's POST and PUT)


def create_check(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    definition: CheckDefinition,
    actor: User | None,
    now: datetime | None = None,
) -> Check:
    """Add one check to the team; a check of that name must not exist yet."""
    if find_check(session, team=team, name=definition.name) is not None:
        raise OpsyardError(
            CHECK_EXISTS,
            f"Team {team.slug} already has a check {definition.name!r}.",
            fields=[FieldProblem("/name", "choose a name no other check of the team has")],
        )
    return _save_check(
        session, portal=portal, team=team, row=None, definition=definition, actor=actor, now=now
    )


def update_check(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    name: str,
    definition: CheckDefinition,
    actor: User | None,
    now: datetime | None = None,
) -> Check:
    """Replace the definition of the team's check `name` (which keeps its name)."""
    row = get_check(session, team=team, name=name)
    if definition.name != name:
        raise OpsyardError(
            INVALID_CHECK,
            "A check keeps its name; to rename it, create the new check and delete this one.",
            fields=[FieldProblem("/name", f"use {name!r}, the name in the address")],
        )
    return _save_check(
        session, portal=portal, team=team, row=row, definition=definition, actor=actor, now=now
    )


def delete_check(session: Session, *, team: Team, name: str, actor: User | None) -> None:
    """Remove the team's check `name`, its schedules, runs and alerts."""
    row = get_check(session, team=team, name=name)
    # Its children stop depending on it, in their definitions too, so an export stays valid.
    for child in session.scalars(select(Check).where(Check.depends_on_id == row.id)):
        definition = definition_of(child).model_copy(update={"depends_on": None})
        child.definition = definition.model_dump(mode="json")
        child.depends_on_id = None
    session.flush()
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="synthetics.check.deleted",
        target=f"{team.slug}/{name}",
        team_id=team.id,
    )
    session.flush()


def _save_check(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    row: Check | None,
    definition: CheckDefinition,
    actor: User | None,
    now: datetime | None,
) -> Check:
    problems = [FieldProblem(p.pointer, p.message) for p in check_problems(definition)]
    if problems:
        raise OpsyardError(
            INVALID_CHECK, f"The check {definition.name!r} is not valid.", fields=problems
        )
    _require_secrets(session, team=team, checks=[definition], prefix="")
    parent: Check | None = None
    if definition.depends_on is not None:
        parent = find_check(session, team=team, name=definition.depends_on)
        if parent is None or definition.depends_on == definition.name:
            raise OpsyardError(
                UNKNOWN_DEPENDENCY,
                f"Team {team.slug} has no other check {definition.depends_on!r}.",
                fields=[FieldProblem("/depends_on", "name another existing check of the team")],
            )
        if row is not None and _depends_on(session, parent, row.id):
            raise OpsyardError(
                UNKNOWN_DEPENDENCY,
                f"{definition.depends_on!r} depends on {definition.name!r} already.",
                fields=[FieldProblem("/depends_on", "a dependency cycle is not allowed")],
            )
    now = now or utcnow()
    created = row is None
    if row is None:
        row = Check(team_id=team.id, name=definition.name, created_at=now)
        session.add(row)
    elif definition_of(row) == definition:
        return row
    _store(row, definition, team=team, now=now)
    row.depends_on_id = parent.id if parent is not None else None
    execution.sync_schedules(
        session, check=row, locations=locations.known(session, settings=portal.settings), now=now
    )
    audit.record(
        session,
        actor=actor,
        action="synthetics.check.created" if created else "synthetics.check.updated",
        target=f"{team.slug}/{definition.name}",
        team_id=team.id,
    )
    session.flush()
    return row


def _depends_on(session: Session, check: Check, ancestor_id: int) -> bool:
    """Whether `check` is `ancestor_id` or depends on it, directly or not."""
    seen: set[int] = set()
    current: Check | None = check
    while current is not None and current.id not in seen:
        if current.id == ancestor_id:
            return True
        seen.add(current.id)
        parent_id = current.depends_on_id
        current = session.get(Check, parent_id) if parent_id is not None else None
    return False


# ---------------------------------------------------------------------------------------------
# Secrets


def list_secrets(session: Session, *, team: Team) -> list[Secret]:
    """The team's secrets by name; callers show names and dates, never values."""
    return list(
        session.scalars(select(Secret).where(Secret.team_id == team.id).order_by(Secret.name))
    )


def secret_names(session: Session, *, team: Team) -> list[str]:
    """The names of the team's secrets, sorted; values are never read back out."""
    return list(
        session.scalars(select(Secret.name).where(Secret.team_id == team.id).order_by(Secret.name))
    )


def secret_users(session: Session, *, team: Team) -> dict[str, list[str]]:
    """The team's checks by the secret they use: secret name -> check names, sorted.

    Read from each check's `secrets:` list, the same list `delete_secret` refuses on, so
    the page never calls a secret unused that deleting it would say is in use.
    """
    users: dict[str, list[str]] = {}
    for check in list_checks(session, team=team):
        for name in definition_of(check).secrets:
            users.setdefault(name, []).append(check.name)
    return {name: sorted(set(checks)) for name, checks in users.items()}


def secrets_for(session: Session, *, team_id: int) -> dict[str, str]:
    """The team's secret values by name, for the runner only."""
    rows = session.execute(select(Secret.name, Secret.value).where(Secret.team_id == team_id))
    return {name: value for name, value in rows}


def set_secret(
    session: Session,
    *,
    team: Team,
    name: str,
    value: str,
    actor: User | None,
    now: datetime | None = None,
) -> Secret:
    """Create or replace the team's secret `name`; the audit log names it, never its value."""
    if not _IDENTIFIER.fullmatch(name):
        raise OpsyardError(
            INVALID_SECRET,
            f"{name!r} is not a secret name.",
            fields=[FieldProblem("/name", "a letter or _, then letters, digits or _ (max 64)")],
        )
    if not value or len(value.encode()) > MAX_SECRET_BYTES:
        raise OpsyardError(
            INVALID_SECRET,
            "A secret's value is between 1 byte and 8 KiB.",
            fields=[FieldProblem("/value", "give a value that is not empty, at most 8 KiB")],
        )
    now = now or utcnow()
    row = session.scalars(
        select(Secret).where(Secret.team_id == team.id, Secret.name == name)
    ).one_or_none()
    created = row is None
    if row is None:
        row = Secret(team_id=team.id, name=name, value=value, created_at=now)
        session.add(row)
    row.value, row.updated_at = value, now
    audit.record(
        session,
        actor=actor,
        action="synthetics.secret.set" if created else "synthetics.secret.replaced",
        target=f"{team.slug}/{name}",
        team_id=team.id,
    )
    session.flush()
    return row


def delete_secret(session: Session, *, team: Team, name: str, actor: User | None) -> None:
    """Remove the team's secret `name`; refused while a check of the team uses it."""
    row = session.scalars(
        select(Secret).where(Secret.team_id == team.id, Secret.name == name)
    ).one_or_none()
    if row is None:
        raise OpsyardError(NOT_FOUND, f"No secret {name!r} in team {team.slug}.")
    users = [c.name for c in list_checks(session, team=team) if name in definition_of(c).secrets]
    if users:
        raise OpsyardError(
            SECRET_IN_USE,
            f"The secret {name!r} is used by: {', '.join(users)}.",
        )
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="synthetics.secret.deleted",
        target=f"{team.slug}/{name}",
        team_id=team.id,
    )
    session.flush()


# ---------------------------------------------------------------------------------------------
# Maintenance windows


def add_maintenance(
    session: Session,
    *,
    team: Team,
    starts_at: datetime,
    ends_at: datetime,
    actor: User | None,
    check_name: str | None = None,
    reason: str = "",
) -> MaintenanceWindow:
    """Silence the team's checks (or one of them) from `starts_at` until `ends_at`."""
    problems: list[FieldProblem] = []
    for pointer, value in (("/starts_at", starts_at), ("/ends_at", ends_at)):
        if value.tzinfo is None:
            problems.append(FieldProblem(pointer, "give a time zone, such as Z or +02:00"))
    if not problems and ends_at <= starts_at:
        problems.append(FieldProblem("/ends_at", "the end must come after the start"))
    if not problems and ends_at - starts_at > MAX_WINDOW:
        problems.append(FieldProblem("/ends_at", "a window lasts at most 30 days"))
    check: Check | None = None
    if check_name is not None:
        check = find_check(session, team=team, name=check_name)
        if check is None:
            problems.append(FieldProblem("/check", f"team {team.slug} has no check {check_name!r}"))
    if problems:
        raise OpsyardError(INVALID_WINDOW, fields=problems)
    window = MaintenanceWindow(
        team_id=team.id,
        check_id=check.id if check is not None else None,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by_id=actor.id if actor else None,
    )
    session.add(window)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="synthetics.maintenance.added",
        target=f"{team.slug}/{check_name or '*'}",
        team_id=team.id,
        detail={
            "window": window.id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return window


def list_maintenance(
    session: Session, *, team: Team, ending_after: datetime | None = None
) -> list[MaintenanceWindow]:
    """The team's windows by start, optionally only those not over by `ending_after`."""
    query = select(MaintenanceWindow).where(MaintenanceWindow.team_id == team.id)
    if ending_after is not None:
        query = query.where(MaintenanceWindow.ends_at > ending_after)
    return list(session.scalars(query.order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)))


def delete_maintenance(session: Session, *, team: Team, window_id: int, actor: User | None) -> None:
    """Remove one of the team's windows."""
    window = session.get(MaintenanceWindow, window_id)
    if window is None or window.team_id != team.id:
        raise OpsyardError(NOT_FOUND, f"No maintenance window {window_id} in team {team.slug}.")
    session.delete(window)
    audit.record(
        session,
        actor=actor,
        action="synthetics.maintenance.deleted",
        target=f"{team.slug}/{window_id}",
        team_id=team.id,
    )
    session.flush()


def in_maintenance(session: Session, *, check: Check, at: datetime) -> bool:
    """Whether a window of the check's team, for all its checks or this one, covers `at`."""
    found = session.scalars(
        select(MaintenanceWindow.id)
        .where(
            MaintenanceWindow.team_id == check.team_id,
            or_(MaintenanceWindow.check_id.is_(None), MaintenanceWindow.check_id == check.id),
            MaintenanceWindow.starts_at <= at,
            MaintenanceWindow.ends_at > at,
        )
        .limit(1)
    ).first()
    return found is not None


# ---------------------------------------------------------------------------------------------
# Team settings


def settings_for(session: Session, *, team: Team) -> TeamSettings:
    """The team's settings row; a transient one holding the defaults if it has none yet."""
    row = session.get(TeamSettings, team.id)
    return row if row is not None else _default_settings(team.id)


def settings_for_teams(session: Session, *, team_ids: Collection[int]) -> dict[int, TeamSettings]:
    """`settings_for` for many teams in one query, by team id."""
    rows = session.scalars(select(TeamSettings).where(TeamSettings.team_id.in_(team_ids)))
    found = {row.team_id: row for row in rows}
    return {team_id: found.get(team_id) or _default_settings(team_id) for team_id in team_ids}


def _default_settings(team_id: int) -> TeamSettings:
    return TeamSettings(
        team_id=team_id,
        public_status_page=False,
        failure_threshold=DEFAULT_FAILURE_THRESHOLD,
        success_threshold=DEFAULT_SUCCESS_THRESHOLD,
        retention_days=DEFAULT_RETENTION_DAYS,
    )


def update_settings(
    session: Session,
    *,
    team: Team,
    actor: User | None,
    public_status_page: bool,
    failure_threshold: int,
    success_threshold: int,
    retention_days: int,
) -> TeamSettings:
    """Replace the team's settings after checking every value's range."""
    problems: list[FieldProblem] = []
    low, high = THRESHOLD_RANGE
    for pointer, value in (
        ("/failure_threshold", failure_threshold),
        ("/success_threshold", success_threshold),
    ):
        if not low <= value <= high:
            problems.append(FieldProblem(pointer, f"give {low} to {high} consecutive runs"))
    low, high = RETENTION_RANGE
    if not low <= retention_days <= high:
        problems.append(FieldProblem("/retention_days", f"keep results {low} to {high} days"))
    if problems:
        raise OpsyardError(INVALID_SETTINGS, fields=problems)
    row = session.get(TeamSettings, team.id)
    if row is None:
        row = TeamSettings(team_id=team.id)
        session.add(row)
    row.public_status_page = public_status_page
    row.failure_threshold = failure_threshold
    row.success_threshold = success_threshold
    row.retention_days = retention_days
    audit.record(
        session,
        actor=actor,
        action="synthetics.settings.updated",
        target=team.slug,
        team_id=team.id,
        detail={
            "public_status_page": public_status_page,
            "failure_threshold": failure_threshold,
            "success_threshold": success_threshold,
            "retention_days": retention_days,
        },
    )
    session.flush()
    return row
