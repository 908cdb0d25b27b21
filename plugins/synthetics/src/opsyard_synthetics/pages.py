"""The synthetics pages, under /t/{team}/synthetics/.

Everyone in the team reads them; members apply checks files, set secrets and plan maintenance
windows, owners change the team's rules. The overview's table, a check's chart, the
checks-as-code form and the secrets list are components an htmx request gets alone (a filter,
a window switch, a dry run, a delete). Which controls appear is decided here for convenience
only; every route checks the role again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamContext, TeamMember, TeamOwner
from opsyard.api.schemas import PathId
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.extension import Widget
from opsyard.roles import Role
from opsyard.teams.models import Team
from opsyard_synthetics import alerting_service, chart, locations, rollups, service, status
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.errors import INVALID_SETTINGS, INVALID_WINDOW
from opsyard_synthetics.models import (
    DEGRADED,
    ERROR,
    FAILING,
    OK,
    Alert,
    Check,
    Location,
    MaintenanceWindow,
    Run,
)
from opsyard_synthetics.stats import Summary
from opsyard_web.forms import FormState
from opsyard_web.rendering import render
from opsyard_web.responses import PAGE_HEADERS

PLUGIN = "synthetics"

router = APIRouter()

OVERVIEW_TEMPLATE = "synthetics/overview.html"
CHECK_TEMPLATE = "synthetics/check.html"
CODE_TEMPLATE = "synthetics/code.html"
MAINTENANCE_TEMPLATE = "synthetics/maintenance.html"
SETTINGS_TEMPLATE = "synthetics/settings.html"
SECRETS_TEMPLATE = "synthetics/secrets.html"

# A run's outcome, and "none" for a location that has not run the check yet.
NO_RUN = "none"
OUTCOME_LABELS = {
    OK: "OK",
    DEGRADED: "Degraded",
    FAILING: "Failing",
    ERROR: "Error",
    NO_RUN: "No runs yet",
}
# Worst first: what a check is filed under on the overview when its locations disagree.
_WORST_FIRST = (FAILING, ERROR, DEGRADED, OK, NO_RUN)
LEVEL_LABELS = {"page": "Paged", "notify": "Notified", "none": "None"}


@dataclass(frozen=True)
class Window:
    """A period the check page shows: its chart's span and how wide each point is."""

    key: str
    label: str
    span: timedelta
    bucket: timedelta


WINDOWS = (
    Window("1h", "1 hour", timedelta(hours=1), timedelta(minutes=1)),
    Window("24h", "24 hours", timedelta(hours=24), timedelta(minutes=15)),
    Window("7d", "7 days", timedelta(days=7), timedelta(hours=1)),
)
WINDOW_BY_KEY = {window.key: window for window in WINDOWS}
DEFAULT_WINDOW = "24h"
RECENT_RUNS = 20
FAILED_RUNS = 20
ALERT_HISTORY = 20


def base_url(access: TeamContext) -> str:
    return f"/t/{access.team.slug}/{PLUGIN}"


def _refusal(session: Session, exc: OpsyardError) -> None:
    """Undo the refused change; errors that are not the user's to fix go to the error page."""
    if exc.error.status >= 500:
        raise exc
    session.rollback()


def _worst(outcomes: Sequence[str]) -> str:
    return next((outcome for outcome in _WORST_FIRST if outcome in outcomes), NO_RUN)


def _ago(now: datetime, then: datetime | None) -> str:
    """How long ago `then` was, in the largest unit that fits."""
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


# -- the overview -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One check at one location: its last run, or why there is none."""

    location: str
    outcome: str
    run: Run | None
    runs_here: bool

    @property
    def label(self) -> str:
        if not self.runs_here:
            return "Not run here"
        return OUTCOME_LABELS[self.outcome]


@dataclass(frozen=True)
class GridRow:
    check: Check
    status: str
    cells: list[Cell]


@dataclass(frozen=True)
class LocationHealth:
    """A location as the health job sees it: when its workers last beat, healthy or why not."""

    name: str
    heartbeat_age: str
    heartbeat_by: str | None
    healthy: bool
    reason: str | None
    canary: str


def location_health(
    session: Session, *, portal: PortalContext, now: datetime
) -> list[LocationHealth]:
    """Every known location with its heartbeat's age and its health."""
    rows = {row.name: row for row in session.scalars(select(Location))}
    found = []
    for name in sorted(set(locations.known(session, settings=portal.settings)) | set(rows)):
        row = rows.get(name)
        if row is None:
            found.append(
                LocationHealth(name, "never", None, False, "no worker has reported yet", "—")
            )
            continue
        # The stored flag is what quorums use; the reason is computed now so it is current.
        reason = row.unhealthy_reason if not row.healthy else None
        reason = reason or locations.unhealthy_reason(row, at=now)
        canary = (
            "not run yet"
            if row.canary_checked_at is None
            else ("passed" if row.canary_ok else "failed") + f" {_ago(now, row.canary_checked_at)}"
        )
        found.append(
            LocationHealth(
                name=name,
                heartbeat_age=_ago(now, row.last_heartbeat_at),
                heartbeat_by=row.heartbeat_by,
                healthy=row.healthy and reason is None,
                reason=reason,
                canary=canary,
            )
        )
    return found


def grid(
    session: Session, *, portal: PortalContext, checks: Sequence[Check]
) -> tuple[list[str], list[GridRow]]:
    """The grid's columns (locations) and one row per check with its last run per location."""
    latest = status.latest_runs(session, check_ids=[check.id for check in checks])
    columns = set(locations.known(session, settings=portal.settings))
    for check in checks:
        columns.update(check.locations or ())
        columns.update(latest.get(check.id, {}))
    ordered = sorted(columns)
    rows = []
    for check in checks:
        runs = latest.get(check.id, {})
        cells = [
            Cell(
                location=name,
                outcome=runs[name].outcome if name in runs else NO_RUN,
                run=runs.get(name),
                runs_here=check.locations is None or name in check.locations or name in runs,
            )
            for name in ordered
        ]
        rows.append(GridRow(check, _worst([run.outcome for run in runs.values()]), cells))
    return ordered, rows


def overview_context(
    session: Session, access: TeamContext, portal: PortalContext, status_filter: str
) -> dict[str, Any]:
    now = utcnow()
    checks = service.list_checks(session, team=access.team)
    columns, rows = grid(session, portal=portal, checks=checks)
    counts = {outcome: 0 for outcome in _WORST_FIRST}
    for row in rows:
        counts[row.status] += 1
    shown = [row for row in rows if not status_filter or row.status == status_filter]
    names = {check.id: check.name for check in checks}
    return {
        "base": base_url(access),
        "columns": columns,
        "rows": shown,
        "total": len(rows),
        "counts": counts,
        "status_filter": status_filter,
        "filter_form": FormState(values={"status": status_filter}),
        "status_options": [
            ("", "Any status"),
            *((outcome, OUTCOME_LABELS[outcome]) for outcome in _WORST_FIRST),
        ],
        "labels": OUTCOME_LABELS,
        "alerts": alerting_service.open_alerts(session, team_id=access.team.id),
        "check_names": names,
        "level_labels": LEVEL_LABELS,
        "locations": location_health(session, portal=portal, now=now),
        "now": now,
        "can_edit": access.role.allows(Role.MEMBER),
    }


@router.get("/")
def overview_page(
    request: Request,
    access: TeamAccess,
    session: DbSession,
    portal: Portal,
    status_filter: Annotated[str, Query(alias="status")] = "",
) -> Response:
    # An unknown value in the address shows everything: the filter form sends known ones.
    chosen = status_filter if status_filter in OUTCOME_LABELS else ""
    context = overview_context(session, access, portal, chosen)
    return render(request, OVERVIEW_TEMPLATE, context, session=session)


# -- one check ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PercentileRow:
    """p50, p95 and p99 from one location (None: every location) over each window."""

    location: str | None
    windows: list[Summary | None]


@dataclass(frozen=True)
class StepView:
    """A stored step of a run, read defensively: runs outlive the code that wrote them."""

    name: str
    outcome: str
    reason: str
    status: Any
    timings: list[tuple[str, float]]
    assertions: list[dict[str, Any]]
    excerpt: str

    @property
    def failed_assertions(self) -> list[dict[str, Any]]:
        return [a for a in self.assertions if not a.get("passed") and not a.get("part")]


PHASES = (
    ("dns_ms", "DNS"),
    ("connect_ms", "Connect"),
    ("tls_ms", "TLS"),
    ("first_byte_ms", "First byte"),
    ("total_ms", "Total"),
)


def step_view(stored: Mapping[str, Any]) -> StepView:
    timings = stored.get("timings") or {}
    return StepView(
        name=str(stored.get("name", "")),
        outcome=str(stored.get("outcome", "")),
        reason=str(stored.get("reason") or ""),
        status=stored.get("status"),
        timings=[
            (label, float(timings[key]))
            for key, label in PHASES
            if isinstance(timings.get(key), int | float)
        ],
        assertions=[dict(a) for a in stored.get("assertions") or [] if isinstance(a, Mapping)],
        excerpt=str(stored.get("excerpt") or ""),
    )


@dataclass(frozen=True)
class RunView:
    run: Run
    steps: list[StepView]


@dataclass(frozen=True)
class AssertionFailure:
    run: Run
    step: str
    assertion: dict[str, Any]


def assertion_failures(
    session: Session, *, check_id: int, limit: int = FAILED_RUNS
) -> list[AssertionFailure]:
    """The failed assertions of the check's latest failing runs, newest first: they may be
    older than the recent runs shown, which a healthy check soon pushes out."""
    runs = session.scalars(
        select(Run)
        .where(Run.check_id == check_id, Run.outcome == FAILING)
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(limit)
    )
    return [
        AssertionFailure(run, step.name, assertion)
        for run in runs
        for step in map(step_view, run.steps or [])
        for assertion in step.failed_assertions
    ]


def _target(definition: CheckDefinition) -> list[str]:
    """What the check probes, one line per step or target."""
    if definition.tcp is not None:
        return [f"TCP connect to {definition.tcp.host}:{definition.tcp.port}"]
    if definition.dns is not None:
        query = definition.dns
        via = f" via {query.resolver}" if query.resolver else ""
        return [f"DNS {query.record_type} {query.name}{via}"]
    if definition.tls is not None:
        return [f"TLS certificate of {definition.tls.host}:{definition.tls.port}"]
    return [f"{step.name}: {step.method} {step.url}" for step in definition.steps]


def chart_context(
    session: Session, check: Check, definition: CheckDefinition, window: Window, now: datetime
) -> dict[str, Any]:
    series = rollups.series(
        session, check_id=check.id, since=now - window.span, now=now, bucket=window.bucket
    )
    svg = chart.latency_chart(
        series,
        thresholds=definition.thresholds,
        title=f"Response time of {check.name}, last {window.label}",
        chart_id="latency-chart",
    )
    return {"window": window, "windows": WINDOWS, "chart_svg": svg}


def check_context(
    session: Session, access: TeamContext, check: Check, window: Window
) -> dict[str, Any]:
    now = utcnow()
    definition = service.definition_of(check)
    runs = list(rollups.recent_runs(session, check_id=check.id, limit=RECENT_RUNS))
    views = [RunView(run, [step_view(step) for step in run.steps or []]) for run in runs]
    failures = assertion_failures(session, check_id=check.id)
    seen = sorted({run.location for run in runs} | set(check.locations or ()))
    percentile_rows = [
        PercentileRow(
            location=location,
            windows=[
                rollups.percentiles(
                    session, check_id=check.id, location=location, window=w.span, now=now
                )
                for w in WINDOWS
            ],
        )
        for location in [None, *seen]
    ]
    parent = session.get(Check, check.depends_on_id) if check.depends_on_id else None
    return {
        "base": base_url(access),
        "check": check,
        "definition": definition,
        "targets": _target(definition),
        "parent": parent,
        "latest": status.latest_runs(session, check_ids=[check.id]).get(check.id, {}),
        "labels": OUTCOME_LABELS,
        "level_labels": LEVEL_LABELS,
        "runs": views,
        "failures": failures,
        "percentiles": percentile_rows,
        "alerts": alerting_service.alert_history(session, check_id=check.id, limit=ALERT_HISTORY),
        "in_maintenance": service.in_maintenance(session, check=check, at=now),
        **chart_context(session, check, definition, window, now),
    }


@router.get("/checks/{name}")
def check_page(
    request: Request,
    name: str,
    access: TeamAccess,
    session: DbSession,
    window: Annotated[str, Query()] = DEFAULT_WINDOW,
) -> Response:
    check = service.get_check(session, team=access.team, name=name)
    chosen = WINDOW_BY_KEY.get(window, WINDOW_BY_KEY[DEFAULT_WINDOW])
    context = check_context(session, access, check, chosen)
    return render(request, CHECK_TEMPLATE, context, session=session)


# -- checks as code -----------------------------------------------------------------------


@dataclass
class CodeForm:
    """The checks file as typed, and what the last preview or apply said about it."""

    text: str
    report: service.ApplyReport | None = None
    applied: bool = False
    message: str = ""
    remediation: str = ""
    problems: list[FieldProblem] = field(default_factory=list)


def code_context(
    session: Session, access: TeamContext, form: CodeForm | None = None
) -> dict[str, Any]:
    exported = service.export_checks(session, team=access.team)
    return {
        "base": base_url(access),
        "exported": exported,
        "form": form or CodeForm(text=exported),
        "can_edit": access.role.allows(Role.MEMBER),
        "secret_names": service.secret_names(session, team=access.team),
    }


@router.get("/code")
def code_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    return render(request, CODE_TEMPLATE, code_context(session, access), session=session)


@router.get("/code/checks.yaml")
def code_download(access: TeamAccess, session: DbSession) -> Response:
    text = service.export_checks(session, team=access.team)
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{access.team.slug}-checks.yaml"',
    }
    return Response(text, media_type="application/yaml", headers=headers)


def _code_answer(
    request: Request,
    session: Session,
    access: TeamContext,
    portal: PortalContext,
    text: str,
    *,
    dry_run: bool,
) -> Response:
    status_code = 200
    try:
        report = service.apply_checks(
            session, portal=portal, team=access.team, text=text, actor=access.user, dry_run=dry_run
        )
        form = CodeForm(text=text, report=report, applied=not dry_run)
    except OpsyardError as exc:
        _refusal(session, exc)
        status_code = exc.error.status
        form = CodeForm(
            text=text,
            message=exc.detail,
            remediation=exc.error.remediation,
            problems=list(exc.fields),
        )
    context = code_context(session, access, form)
    return render(
        request,
        CODE_TEMPLATE,
        context,
        block_name="code",
        status_code=status_code,
        session=session,
    )


@router.post("/code/preview")
def preview_checks(
    request: Request,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    text: Annotated[str, Form()] = "",
) -> Response:
    return _code_answer(request, session, access, portal, text, dry_run=True)


@router.post("/code/apply")
def apply_checks(
    request: Request,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
    text: Annotated[str, Form()] = "",
) -> Response:
    return _code_answer(request, session, access, portal, text, dry_run=False)


# -- maintenance windows ------------------------------------------------------------------


@dataclass(frozen=True)
class WindowView:
    window: MaintenanceWindow
    check_name: str | None
    state: str  # "on", "planned" or "over"


def _datetime_field(value: str, pointer: str, problems: list[FieldProblem]) -> datetime | None:
    """A ``datetime-local`` value, read as UTC."""
    if not value.strip():
        problems.append(FieldProblem(pointer, "give a date and time (UTC)"))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(FieldProblem(pointer, "give a date and time such as 2026-05-01T22:00"))
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _local(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def maintenance_context(
    session: Session, access: TeamContext, form: FormState | None = None
) -> dict[str, Any]:
    now = utcnow()
    checks = service.list_checks(session, team=access.team)
    names = {check.id: check.name for check in checks}
    # Windows over for more than a week are history nobody acts on.
    windows = service.list_maintenance(
        session, team=access.team, ending_after=now - timedelta(days=7)
    )
    views = [
        WindowView(
            window=window,
            check_name=names.get(window.check_id) if window.check_id else None,
            state="on"
            if window.starts_at <= now < window.ends_at
            else ("planned" if window.starts_at > now else "over"),
        )
        for window in windows
    ]
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=5)
    defaults = {"starts_at": _local(start), "ends_at": _local(start + timedelta(hours=1))}
    return {
        "base": base_url(access),
        "windows": views,
        "form": form or FormState(values=defaults),
        "check_options": [("", "Every check of the team"), *((c.name, c.name) for c in checks)],
        "can_edit": access.role.allows(Role.MEMBER),
    }


@router.get("/maintenance")
def maintenance_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    context = maintenance_context(session, access)
    return render(request, MAINTENANCE_TEMPLATE, context, session=session)


@router.post("/maintenance")
def add_window(
    request: Request,
    access: TeamMember,
    session: DbSession,
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    check: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    values = {"starts_at": starts_at, "ends_at": ends_at, "check": check, "reason": reason}
    status_code = 200
    try:
        problems: list[FieldProblem] = []
        start = _datetime_field(starts_at, "/starts_at", problems)
        end = _datetime_field(ends_at, "/ends_at", problems)
        if problems or start is None or end is None:
            raise OpsyardError(INVALID_WINDOW, fields=problems)
        service.add_maintenance(
            session,
            team=access.team,
            starts_at=start,
            ends_at=end,
            actor=access.user,
            check_name=check or None,
            reason=reason.strip(),
        )
        session.flush()
        context = maintenance_context(session, access)
        silenced = f"the check {check} pages" if check else "the team's checks page"
        context["form"].done = f"Window planned: while it is on, {silenced} nobody."
    except OpsyardError as exc:
        _refusal(session, exc)
        status_code = exc.error.status
        context = maintenance_context(session, access, FormState.failed(exc, values))
    return render(
        request,
        MAINTENANCE_TEMPLATE,
        context,
        block_name="windows",
        status_code=status_code,
        session=session,
    )


@router.post("/maintenance/{window_id}/delete")
def delete_window(
    request: Request, window_id: PathId, access: TeamMember, session: DbSession
) -> Response:
    service.delete_maintenance(session, team=access.team, window_id=window_id, actor=access.user)
    session.flush()
    context = maintenance_context(session, access)
    context["form"].done = "Window removed."
    return render(request, MAINTENANCE_TEMPLATE, context, block_name="windows", session=session)


# -- secrets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretView:
    """A secret as the page lists it. Built without the value, so no template can show it."""

    name: str
    last_set: datetime
    used_by: list[str]


def secret_views(session: Session, *, team: Team) -> list[SecretView]:
    """The team's secrets by name, each with the checks that use it."""
    users = service.secret_users(session, team=team)
    return [
        SecretView(name=secret.name, last_set=secret.updated_at, used_by=users.get(secret.name, []))
        for secret in service.list_secrets(session, team=team)
    ]


def secrets_context(
    session: Session,
    access: TeamContext,
    form: FormState | None = None,
    notice: FormState | None = None,
) -> dict[str, Any]:
    # `form` is the set form's state, `notice` what the list says after a delete: two
    # messages, each beside what it is about.
    return {
        "base": base_url(access),
        "secrets": secret_views(session, team=access.team),
        "form": form or FormState(),
        "notice": notice or FormState(),
        "can_edit": access.role.allows(Role.MEMBER),
    }


def _secrets_answer(
    request: Request, session: Session, context: dict[str, Any], status_code: int
) -> Response:
    return render(
        request,
        SECRETS_TEMPLATE,
        context,
        block_name="secrets",
        status_code=status_code,
        session=session,
    )


def _set_message(name: str, replaced: bool) -> str:
    if replaced:
        return f"Secret {name} replaced: its checks use the new value from their next run."
    return f"Secret {name} set. Checks use it as {{{{ secrets.{name} }}}}, listed under secrets:."


@router.get("/secrets")
def secrets_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    context = secrets_context(session, access)
    return render(request, SECRETS_TEMPLATE, context, session=session)


@router.post("/secrets")
def set_secret(
    request: Request,
    access: TeamMember,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    # A stray space around a pasted name is not worth a refusal; the value is kept exactly.
    name = name.strip()
    status_code = 200
    try:
        replaced = name in service.secret_names(session, team=access.team)
        service.set_secret(session, team=access.team, name=name, value=value, actor=access.user)
        form = FormState(done=_set_message(name, replaced))
    except OpsyardError as exc:
        _refusal(session, exc)
        status_code = exc.error.status
        # Only the name goes back into the form: a refused value is typed again, never echoed.
        form = FormState.failed(exc, {"name": name})
    context = secrets_context(session, access, form=form)
    return _secrets_answer(request, session, context, status_code)


@router.post("/secrets/{name}/delete")
def delete_secret(request: Request, name: str, access: TeamMember, session: DbSession) -> Response:
    status_code = 200
    try:
        service.delete_secret(session, team=access.team, name=name, actor=access.user)
        notice = FormState(done=f"Secret {name} deleted.")
    except OpsyardError as exc:
        # In use (409, naming its checks) or already gone (404): said above the list.
        _refusal(session, exc)
        status_code = exc.error.status
        notice = FormState.failed(exc)
    context = secrets_context(session, access, notice=notice)
    return _secrets_answer(request, session, context, status_code)


# -- settings -----------------------------------------------------------------------------


def settings_context(
    session: Session, access: TeamContext, form: FormState | None = None
) -> dict[str, Any]:
    rules = service.settings_for(session, team=access.team)
    values = {
        "failure_threshold": str(rules.failure_threshold),
        "success_threshold": str(rules.success_threshold),
        "retention_days": str(rules.retention_days),
        "public_status_page": "true" if rules.public_status_page else "",
    }
    return {
        "base": base_url(access),
        "rules": rules,
        "form": form or FormState(values=values),
        "can_manage": access.role.allows(Role.OWNER),
        "status_url": f"/status/{access.team.slug}",
    }


@router.get("/settings")
def settings_page(request: Request, access: TeamAccess, session: DbSession) -> Response:
    context = settings_context(session, access)
    return render(request, SETTINGS_TEMPLATE, context, session=session)


def _whole_number(value: str, pointer: str, problems: list[FieldProblem]) -> int:
    try:
        return int(value.strip())
    except ValueError:
        problems.append(FieldProblem(pointer, "give a whole number"))
        return 0


@router.post("/settings")
def save_settings(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    failure_threshold: Annotated[str, Form()] = "",
    success_threshold: Annotated[str, Form()] = "",
    retention_days: Annotated[str, Form()] = "",
    public_status_page: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "failure_threshold": failure_threshold,
        "success_threshold": success_threshold,
        "retention_days": retention_days,
        "public_status_page": public_status_page,
    }
    status_code = 200
    try:
        problems: list[FieldProblem] = []
        numbers = {
            name: _whole_number(values[name], f"/{name}", problems)
            for name in ("failure_threshold", "success_threshold", "retention_days")
        }
        if problems:
            raise OpsyardError(INVALID_SETTINGS, fields=problems)
        service.update_settings(
            session,
            team=access.team,
            actor=access.user,
            public_status_page=public_status_page == "true",
            **numbers,
        )
        session.flush()
        context = settings_context(session, access)
        context["form"].done = "Saved. The thresholds apply from the next run of each check."
    except OpsyardError as exc:
        _refusal(session, exc)
        status_code = exc.error.status
        context = settings_context(session, access, FormState.failed(exc, values))
    return render(
        request,
        SETTINGS_TEMPLATE,
        context,
        block_name="rules",
        status_code=status_code,
        session=session,
    )


# -- the team home's panel ----------------------------------------------------------------

# The dashboard hook gets no template environment, so the panel has its own: the plugin's
# templates, autoescaped like the pages.
_WIDGET_ENVIRONMENT = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def status_widget(session: Session, *, team: Team, user: User, now: datetime) -> Widget:
    """How many of the team's checks are in each state, and its open alerts."""
    del user, now  # the same for everyone in the team, and as of the latest runs
    checks = service.list_checks(session, team=team)
    latest = status.latest_runs(session, check_ids=[check.id for check in checks])
    counts = {outcome: 0 for outcome in _WORST_FIRST}
    for check in checks:
        counts[_worst([run.outcome for run in latest.get(check.id, {}).values()])] += 1
    alerts: list[Alert] = alerting_service.open_alerts(session, team_id=team.id)
    html = _WIDGET_ENVIRONMENT.get_template("synthetics/widget.html").render(
        team=team,
        counts=counts,
        labels=OUTCOME_LABELS,
        total=len(checks),
        alerts=alerts,
        names={check.id: check.name for check in checks},
    )
    return Widget(title="Synthetic checks", html=html, order=60)
