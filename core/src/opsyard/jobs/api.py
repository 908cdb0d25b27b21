"""/api/v1/jobs: the declared jobs and their recorded runs, for site admins."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from opsyard.api.deps import AdminPrincipal, DbSession, Portal
from opsyard.db.base import utcnow
from opsyard.jobs import service
from opsyard.jobs.catalogue import load_catalogue

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    name: str
    plugin: str
    schedule: str
    interval_seconds: int | None
    cron: str | None
    jitter_seconds: int
    queue: str
    per_team: bool
    per_location: bool
    time_limit_seconds: int
    next_run: datetime


class JobRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str
    team: str | None
    location: str | None
    trigger: str
    scheduled_for: datetime
    due_at: datetime
    queue: str | None
    queued_at: datetime
    queued_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    outcome: str
    error_code: str | None
    error_detail: str | None
    worker: str | None
    worker_location: str | None
    attempts: int


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(ctx: Portal, _: AdminPrincipal) -> list[JobOut]:
    """Every job core and the plugins declare, with its next slot (site admins only)."""
    rows = service.describe_jobs(catalogue=load_catalogue(ctx.registry), now=utcnow())
    return [JobOut.model_validate(row) for row in rows]


@router.get("/jobs/runs", response_model=list[JobRunOut])
def list_runs(
    session: DbSession,
    _: AdminPrincipal,
    job: str | None = Query(default=None, description="Only the runs of this job."),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[JobRunOut]:
    """The latest job runs, newest first (site admins only)."""
    found = service.list_runs(session, job=job, limit=limit)
    return [JobRunOut.model_validate(service.run_row(run)) for run in found]
