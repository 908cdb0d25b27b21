"""/api/v1/audit: the audit log, for team owners and site admins."""

from __future__ import annotations

from fastapi import APIRouter, Query

from opsyard.api.deps import AdminPrincipal, DbSession, TeamOwner
from opsyard.api.schemas import AuditOut
from opsyard.audit import service as audit

router = APIRouter(tags=["audit"])

Limit = Query(default=100, ge=1, le=1000)


@router.get("/audit", response_model=list[AuditOut])
def site_audit(session: DbSession, _: AdminPrincipal, limit: int = Limit) -> list[AuditOut]:
    """Every change across the portal, newest first (site admins only)."""
    return [AuditOut.model_validate(e) for e in audit.list_entries(session, limit=limit)]


@router.get("/teams/{team}/audit", response_model=list[AuditOut])
def team_audit(access: TeamOwner, session: DbSession, limit: int = Limit) -> list[AuditOut]:
    """Changes to one team, newest first (team owners and site admins)."""
    entries = audit.list_entries(session, team_id=access.team.id, limit=limit)
    return [AuditOut.model_validate(e) for e in entries]
