"""Request and response bodies of the synthetics API.

A check's body is its `CheckDefinition`, the same shape as one entry of a checks file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from opsyard.api.schemas import Strict
from opsyard_synthetics import service
from opsyard_synthetics.models import Check, MaintenanceWindow, Secret, TeamSettings


class CheckOut(BaseModel):
    name: str
    kind: str
    interval_seconds: int
    critical: bool
    locations: list[str] | None = Field(description="None: every registered location.")
    depends_on: str | None
    alert_level: str = Field(description="none, notify or page: the check's open alert.")
    definition: dict[str, Any] = Field(description="The check as code, defaults included.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, check: Check, *, names: dict[int, str]) -> CheckOut:
        """`names` maps the team's check ids to names, to name the parent."""
        parent = names.get(check.depends_on_id) if check.depends_on_id is not None else None
        return cls(
            name=check.name,
            kind=check.kind,
            interval_seconds=check.interval_seconds,
            critical=check.critical,
            locations=check.locations,
            depends_on=parent,
            alert_level=check.alert_level,
            definition=check.definition,
            created_at=check.created_at,
            updated_at=check.updated_at,
        )


class ApplyIn(Strict):
    yaml: str = Field(
        description="The checks file, as YAML.", examples=["version: 1\nchecks: []\n"]
    )
    dry_run: bool = Field(default=False, description="Report what would change; change nothing.")


class ApplyOut(BaseModel):
    created: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    changed_fields: dict[str, list[str]]
    dry_run: bool

    @classmethod
    def of(cls, report: service.ApplyReport) -> ApplyOut:
        return cls(
            created=report.created,
            changed=report.changed,
            removed=report.removed,
            unchanged=report.unchanged,
            changed_fields=report.changed_fields,
            dry_run=report.dry_run,
        )


class SecretIn(Strict):
    value: str = Field(description="Stored apart from checks; never shown again.")


class SecretOut(BaseModel):
    """A secret's name and when it was last set; its value is never returned."""

    name: str
    updated_at: datetime

    @classmethod
    def of(cls, secret: Secret) -> SecretOut:
        return cls(name=secret.name, updated_at=secret.updated_at)


class MaintenanceIn(Strict):
    starts_at: datetime = Field(examples=["2030-01-01T22:00:00Z"])
    ends_at: datetime = Field(examples=["2030-01-01T23:00:00Z"])
    check: str | None = Field(default=None, description="One check's name; None: all of them.")
    reason: str = Field(default="", max_length=500)


class MaintenanceOut(BaseModel):
    id: int
    check: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, window: MaintenanceWindow, *, names: dict[int, str]) -> MaintenanceOut:
        check = names.get(window.check_id) if window.check_id is not None else None
        return cls(
            id=window.id,
            check=check,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            reason=window.reason,
            created_at=window.created_at,
        )


class SettingsIn(Strict):
    # Ranges are checked by the service, which names them in synthetics.invalid_settings.
    public_status_page: bool = False
    failure_threshold: int = Field(
        default=service.DEFAULT_FAILURE_THRESHOLD, description="1 to 10 consecutive failures."
    )
    success_threshold: int = Field(
        default=service.DEFAULT_SUCCESS_THRESHOLD, description="1 to 10 consecutive successes."
    )
    retention_days: int = Field(
        default=service.DEFAULT_RETENTION_DAYS, description="Raw results kept 1 to 90 days."
    )


class SettingsOut(BaseModel):
    public_status_page: bool
    failure_threshold: int
    success_threshold: int
    retention_days: int

    @classmethod
    def of(cls, row: TeamSettings) -> SettingsOut:
        return cls(
            public_status_page=row.public_status_page,
            failure_threshold=row.failure_threshold,
            success_threshold=row.success_threshold,
            retention_days=row.retention_days,
        )
