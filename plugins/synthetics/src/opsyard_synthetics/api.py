"""/api/v1/teams/{team}/synthetics: checks, checks as code, secrets, maintenance windows and
the team's settings. Reads need access to the team, writes a member, settings an owner."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamMember, TeamOwner
from opsyard.api.schemas import PathId
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.teams.models import Team
from opsyard_synthetics import service
from opsyard_synthetics.checks_file import MAX_FILE_SIZE
from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.schemas import (
    ApplyIn,
    ApplyOut,
    CheckOut,
    MaintenanceIn,
    MaintenanceOut,
    SecretIn,
    SecretOut,
    SettingsIn,
    SettingsOut,
)

router = APIRouter()

CheckName = Annotated[str, Path(min_length=1, max_length=100, description="The check's name.")]
SecretName = Annotated[str, Path(min_length=1, max_length=64, description="The secret's name.")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _names(session: Session, team: Team) -> dict[int, str]:
    return {check.id: check.name for check in service.list_checks(session, team=team)}


# -- checks -----------------------------------------------------------------------------------


@router.get("/checks", response_model=list[CheckOut])
def list_checks(access: TeamAccess, session: DbSession) -> list[CheckOut]:
    """The team's checks, by name."""
    checks = service.list_checks(session, team=access.team)
    names = {check.id: check.name for check in checks}
    return [CheckOut.of(check, names=names) for check in checks]


@router.post("/checks", response_model=CheckOut, status_code=HTTPStatus.CREATED)
def create_check(
    body: CheckDefinition, access: TeamMember, session: DbSession, portal: Portal
) -> CheckOut:
    """Add one check, given as one entry of a checks file in JSON."""
    check = service.create_check(
        session, portal=portal, team=access.team, definition=body, actor=access.user
    )
    return CheckOut.of(check, names=_names(session, access.team))


@router.get("/checks/{name}", response_model=CheckOut)
def get_check(name: CheckName, access: TeamAccess, session: DbSession) -> CheckOut:
    """One check."""
    check = service.get_check(session, team=access.team, name=name)
    return CheckOut.of(check, names=_names(session, access.team))


@router.put("/checks/{name}", response_model=CheckOut)
def put_check(
    name: CheckName,
    body: CheckDefinition,
    access: TeamMember,
    session: DbSession,
    portal: Portal,
) -> CheckOut:
    """Replace one check's definition; its name stays."""
    check = service.update_check(
        session, portal=portal, team=access.team, name=name, definition=body, actor=access.user
    )
    return CheckOut.of(check, names=_names(session, access.team))


@router.delete("/checks/{name}", status_code=HTTPStatus.NO_CONTENT)
def delete_check(name: CheckName, access: TeamMember, session: DbSession) -> Response:
    """Remove one check with its runs and alerts; its children stop depending on it."""
    service.delete_check(session, team=access.team, name=name, actor=access.user)
    return Response(status_code=HTTPStatus.NO_CONTENT)


# -- checks as code ---------------------------------------------------------------------------


async def _apply_body(
    request: Request,
    dry_run: Annotated[
        bool, Query(description="With a YAML body: report, change nothing.")
    ] = False,
) -> ApplyIn:
    """The checks file from a YAML body, or from a JSON body {"yaml": ..., "dry_run": ...}."""
    raw = await request.body()
    if len(raw) > MAX_FILE_SIZE:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"The checks file is larger than {MAX_FILE_SIZE // 1024} KiB.",
        )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "The body is not UTF-8 text.",
            fields=[FieldProblem("", "send UTF-8")],
        ) from None
    if media_type in YAML_TYPES:
        return ApplyIn(yaml=text, dry_run=dry_run)
    if media_type != "application/json":
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            'Send the checks file as application/yaml, or JSON {"yaml": ..., "dry_run": ...}.',
        )
    try:
        body = ApplyIn.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        problems = (
            [FieldProblem("/" + "/".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [FieldProblem("", "send a JSON object")]
        )
        raise OpsyardError(
            errors.VALIDATION_FAILED, "The body is not valid.", fields=problems
        ) from None
    return ApplyIn(yaml=body.yaml, dry_run=body.dry_run or dry_run)


@router.post(
    "/apply",
    response_model=ApplyOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": ApplyIn.model_json_schema()},
            },
        }
    },
)
def apply(
    access: TeamMember,
    body: Annotated[ApplyIn, Depends(_apply_body)],
    session: DbSession,
    portal: Portal,
) -> ApplyOut:
    """Make the team's checks those of the file: created, changed, removed, unchanged.

    An invalid file is refused whole (422 synthetics.invalid_checks_file), one field problem
    per fault, each naming its line and column.
    """
    report = service.apply_checks(
        session,
        portal=portal,
        team=access.team,
        text=body.yaml,
        actor=access.user,
        dry_run=body.dry_run,
    )
    return ApplyOut.of(report)


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "The checks file."}},
)
def export(access: TeamAccess, session: DbSession) -> Response:
    """The team's checks as a checks file, ready to apply."""
    text = service.export_checks(session, team=access.team)
    filename = f"{access.team.slug}-checks.yaml"
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- secrets ----------------------------------------------------------------------------------


@router.get("/secrets", response_model=list[SecretOut])
def list_secrets(access: TeamAccess, session: DbSession) -> list[SecretOut]:
    """The names of the team's secrets; values are never returned."""
    return [SecretOut.of(secret) for secret in service.list_secrets(session, team=access.team)]


@router.put("/secrets/{name}", response_model=SecretOut)
def put_secret(
    name: SecretName, body: SecretIn, access: TeamMember, session: DbSession
) -> SecretOut:
    """Set or replace a secret; the answer names it, without its value."""
    secret = service.set_secret(
        session, team=access.team, name=name, value=body.value, actor=access.user
    )
    return SecretOut.of(secret)


@router.delete("/secrets/{name}", status_code=HTTPStatus.NO_CONTENT)
def delete_secret(name: SecretName, access: TeamMember, session: DbSession) -> Response:
    """Remove a secret no check uses."""
    service.delete_secret(session, team=access.team, name=name, actor=access.user)
    return Response(status_code=HTTPStatus.NO_CONTENT)


# -- maintenance windows ----------------------------------------------------------------------


@router.get("/maintenance", response_model=list[MaintenanceOut])
def list_maintenance(access: TeamAccess, session: DbSession) -> list[MaintenanceOut]:
    """The team's maintenance windows, by start."""
    names = _names(session, access.team)
    windows = service.list_maintenance(session, team=access.team)
    return [MaintenanceOut.of(window, names=names) for window in windows]


@router.post("/maintenance", response_model=MaintenanceOut, status_code=HTTPStatus.CREATED)
def add_maintenance(body: MaintenanceIn, access: TeamMember, session: DbSession) -> MaintenanceOut:
    """Silence the team's checks, or one of them, for a while; they keep running."""
    window = service.add_maintenance(
        session,
        team=access.team,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        check_name=body.check,
        reason=body.reason,
        actor=access.user,
    )
    return MaintenanceOut.of(window, names=_names(session, access.team))


@router.delete("/maintenance/{window_id}", status_code=HTTPStatus.NO_CONTENT)
def delete_maintenance(window_id: PathId, access: TeamMember, session: DbSession) -> Response:
    """End a maintenance window by removing it."""
    service.delete_maintenance(session, team=access.team, window_id=window_id, actor=access.user)
    return Response(status_code=HTTPStatus.NO_CONTENT)


# -- settings ---------------------------------------------------------------------------------


@router.get("/settings", response_model=SettingsOut)
def get_settings(access: TeamAccess, session: DbSession) -> SettingsOut:
    """The team's synthetics settings (defaults until an owner changes them)."""
    return SettingsOut.of(service.settings_for(session, team=access.team))


@router.put("/settings", response_model=SettingsOut)
def put_settings(body: SettingsIn, access: TeamOwner, session: DbSession) -> SettingsOut:
    """Replace the team's settings (owners only)."""
    row = service.update_settings(
        session,
        team=access.team,
        actor=access.user,
        public_status_page=body.public_status_page,
        failure_threshold=body.failure_threshold,
        success_threshold=body.success_threshold,
        retention_days=body.retention_days,
    )
    return SettingsOut.of(row)
