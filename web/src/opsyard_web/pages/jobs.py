"""Site admins' jobs page: every declared job with its next slot, and the recorded runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opsyard.api.deps import AdminPrincipal, DbSession, Portal
from opsyard.db.base import utcnow
from opsyard.jobs import service as jobs
from opsyard.jobs.catalogue import load_catalogue
from opsyard_web.forms import FormState
from opsyard_web.rendering import render

router = APIRouter()

SHOWN = 100


@router.get("/admin/jobs")
def jobs_page(
    request: Request,
    principal: AdminPrincipal,
    session: DbSession,
    portal: Portal,
    job: Annotated[str | None, Query()] = None,
) -> Response:
    catalogue = load_catalogue(portal.registry)
    declared = jobs.describe_jobs(catalogue=catalogue, now=utcnow())
    names = [row["name"] for row in declared]
    # Runs of a job no longer declared (a plugin uninstalled) can still be asked for by name.
    chosen = job.strip() if job and job.strip() else None
    runs = [jobs.run_row(run) for run in jobs.list_runs(session, job=chosen, limit=SHOWN)]
    context: dict[str, Any] = {
        "declared": declared,
        "rejected": sorted(catalogue.rejected.items()),
        "runs": runs,
        "job": chosen,
        "job_options": [("", "All jobs"), *((name, name) for name in names)],
        "job_form": FormState(values={"job": chosen or ""}),
        "limit": SHOWN,
    }
    return render(request, "jobs.html", context, session=session)
