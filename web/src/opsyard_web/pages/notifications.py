"""The team's notification log: every message to every channel with its delivery state.

Every team member reads it; members and owners may send a failed notification again (as in
the API). The Resend button's row replaces itself with the notification, pending again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opsyard.api.deps import DbSession, TeamAccess, TeamMember
from opsyard.notifications import channels as channel_service
from opsyard.notifications import service as notifications
from opsyard.notifications.models import FAILED, PENDING, SENDING, SENT
from opsyard.roles import Role
from opsyard_web.htmx import is_htmx
from opsyard_web.rendering import render

router = APIRouter(prefix="/t/{team}/integrations/notifications")

SHOWN = 50
STATUSES = (PENDING, SENDING, SENT, FAILED)


@router.get("")
def notifications_page(
    request: Request,
    access: TeamAccess,
    session: DbSession,
    status: Annotated[str | None, Query()] = None,
    channel: Annotated[int | None, Query()] = None,
    before: Annotated[int | None, Query()] = None,
) -> Response:
    shown_status = status if status in STATUSES else None
    rows = notifications.list_notifications(
        session,
        team=access.team,
        status=shown_status,
        channel_id=channel,
        before_id=before,
        limit=SHOWN,
    )
    channels = channel_service.list_channels(session, team=access.team)
    context: dict[str, Any] = {
        "rows": rows,
        "statuses": STATUSES,
        "status": shown_status,
        "channel_id": channel,
        "channel_name": next((c.name for c in channels if c.id == channel), None),
        "can_resend": access.role.allows(Role.MEMBER),
        "older": rows[-1].id if len(rows) == SHOWN else None,
        "before": before,
    }
    return render(request, "notifications.html", context, session=session)


@router.post("/{notification_id}/resend")
def resend_notification(
    request: Request, notification_id: int, access: TeamMember, session: DbSession
) -> Response:
    row = notifications.get_notification(session, team=access.team, notification_id=notification_id)
    notifications.resend(session, team=access.team, notification=row, actor=access.user)
    session.flush()
    if not is_htmx(request):
        page = f"/t/{access.team.slug}/integrations/notifications"
        return RedirectResponse(page, status_code=303)
    context = {"row": row, "can_resend": True, "resent": True}
    return render(request, "partials/notification_row.html", context, session=session)
