"""/api/v1/teams/{team}/channels, /notifications and /pages.

Owners manage channels; everyone in the team reads the delivery log; members may page
and resend failed notifications.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import DbSession, Portal, TeamAccess, TeamMember, TeamOwner
from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.notifications import channels as channel_service
from opsyard.notifications import service
from opsyard.notifications.models import Channel, Notification, Page
from opsyard.notifications.schemas import (
    ChannelCreated,
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    EmailChannelIn,
    NotificationOut,
    PageIn,
    PageOut,
    PagerDutyChannelIn,
    PageResultOut,
    SlackChannelIn,
    WebhookChannelIn,
)

router = APIRouter(prefix="/teams/{team}", tags=["notifications"])

Kind = Literal["pagerduty", "slack", "webhook", "email"]
Purpose = Literal["notify", "page", "test"]
Status = Literal["pending", "sending", "sent", "failed"]
PageStatus = Literal["triggered", "acknowledged", "resolved"]


def channel_out(channel: Channel) -> ChannelOut:
    """A channel as the API shows it: never its secret."""
    return ChannelOut(
        id=channel.id,
        kind=cast(Kind, channel.kind),
        name=channel.name,
        enabled=channel.enabled,
        url=channel.config.get("url"),
        to=channel.config.get("to"),
        created_at=channel.created_at,
    )


def notification_out(row: Notification) -> NotificationOut:
    on_call = None
    if row.oncall_name is not None:
        on_call = f"{row.oncall_name} <{row.oncall_email}>" if row.oncall_email else row.oncall_name
    return NotificationOut(
        id=row.id,
        message_id=row.message_id,
        channel_id=row.channel_id,
        channel_kind=row.channel_kind,
        channel_name=row.channel_name,
        purpose=cast(Purpose, row.purpose),
        action=row.action,
        severity=row.severity,
        summary=row.summary,
        dedup_key=row.dedup_key,
        on_call=on_call,
        recipients=list(row.recipients or []),
        status=cast(Status, row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        provider_status=row.provider_status,
        provider_response=row.provider_response,
        created_at=row.created_at,
    )


def page_out(session: Session, page: Page) -> PageOut:
    person = session.get(User, page.oncall_user_id) if page.oncall_user_id else None
    return PageOut(
        id=page.id,
        dedup_key=page.dedup_key,
        status=cast(PageStatus, page.status),
        summary=page.summary,
        severity=page.severity,
        on_call=f"{person.display_name} <{person.email}>" if person else None,
        triggered_at=page.triggered_at,
        acknowledged_at=page.acknowledged_at,
        resolved_at=page.resolved_at,
    )


# ---------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(access: TeamAccess, session: DbSession) -> list[ChannelOut]:
    """The team's channels. Routing keys, Slack URLs and signing secrets are never shown."""
    return [channel_out(c) for c in channel_service.list_channels(session, team=access.team)]


@router.post("/channels", response_model=ChannelCreated, status_code=status.HTTP_201_CREATED)
def create_channel(
    body: ChannelIn, access: TeamOwner, session: DbSession, ctx: Portal
) -> ChannelCreated:
    """Add a channel (owners only). A webhook channel's signing secret is in the answer,
    once."""
    created = channel_service.create_channel(
        session,
        team=access.team,
        kind=body.kind,
        name=body.name,
        settings=ctx.settings,
        actor=access.user,
        routing_key=body.routing_key if isinstance(body, PagerDutyChannelIn) else None,
        webhook_url=body.webhook_url if isinstance(body, SlackChannelIn) else None,
        url=body.url if isinstance(body, WebhookChannelIn) else None,
        to=body.to if isinstance(body, EmailChannelIn) else None,
    )
    shown = channel_out(created.channel)
    return ChannelCreated(**shown.model_dump(), secret=created.secret)


@router.get("/channels/{channel_id}", response_model=ChannelOut)
def get_channel(channel_id: int, access: TeamAccess, session: DbSession) -> ChannelOut:
    return channel_out(
        channel_service.get_channel(session, team=access.team, channel_id=channel_id)
    )


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
def update_channel(
    channel_id: int, body: ChannelPatch, access: TeamOwner, session: DbSession
) -> ChannelOut:
    """Rename a channel or switch it on or off (owners only)."""
    channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
    channel_service.update_channel(
        session,
        team=access.team,
        channel=channel,
        actor=access.user,
        name=body.name,
        enabled=body.enabled,
    )
    return channel_out(channel)


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_channel(channel_id: int, access: TeamOwner, session: DbSession) -> Response:
    """Delete a channel (owners only); its delivery log is kept."""
    channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
    channel_service.delete_channel(session, team=access.team, channel=channel, actor=access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/channels/{channel_id}/test",
    response_model=list[NotificationOut],
    status_code=status.HTTP_202_ACCEPTED,
)
def test_channel(channel_id: int, access: TeamOwner, session: DbSession) -> list[NotificationOut]:
    """Queue a test notification (owners only); follow it in the notifications log."""
    channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
    queued = service.send_test(session, team=access.team, channel=channel, actor=access.user)
    return [notification_out(n) for n in queued]


# ---------------------------------------------------------------------------------------
# Delivery log
# ---------------------------------------------------------------------------------------


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    access: TeamAccess,
    session: DbSession,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    channel_id: int | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[NotificationOut]:
    """The team's notifications, newest first, with their delivery state."""
    found = service.list_notifications(
        session,
        team=access.team,
        status=status_filter,
        channel_id=channel_id,
        before_id=before_id,
        limit=limit,
    )
    return [notification_out(n) for n in found]


@router.get("/notifications/{notification_id}", response_model=NotificationOut)
def get_notification(
    notification_id: int, access: TeamAccess, session: DbSession
) -> NotificationOut:
    return notification_out(
        service.get_notification(session, team=access.team, notification_id=notification_id)
    )


@router.post("/notifications/{notification_id}/resend", response_model=NotificationOut)
def resend_notification(
    notification_id: int, access: TeamMember, session: DbSession
) -> NotificationOut:
    """Send a failed notification again, with a fresh retry schedule (members)."""
    row = service.get_notification(session, team=access.team, notification_id=notification_id)
    service.resend(session, team=access.team, notification=row, actor=access.user)
    return notification_out(row)


# ---------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------


@router.get("/pages", response_model=list[PageOut])
def list_pages(
    access: TeamAccess,
    session: DbSession,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[PageOut]:
    """The team's pages, most recently triggered first."""
    found = service.list_pages(session, team=access.team, open_only=open_only, limit=limit)
    return [page_out(session, p) for p in found]


@router.post("/pages", response_model=PageResultOut)
def page_team(body: PageIn, access: TeamMember, session: DbSession) -> PageResultOut:
    """Trigger, acknowledge or resolve a page for the team's on-call engineer (members)."""
    if body.action == "trigger" and not body.summary.strip():
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "A trigger needs a summary.",
            fields=[FieldProblem("/summary", "Say what is wrong, in one line.")],
        )
    result = service.page_oncall(
        session,
        team=access.team,
        summary=body.summary,
        severity=body.severity,
        dedup_key=body.dedup_key,
        action=body.action,
        body=body.body,
        details=body.details,
        rotation=body.rotation,
        actor=access.user,
    )
    return PageResultOut(
        page=page_out(session, result.page) if result.page is not None else None,
        deduplicated=result.deduplicated,
        notifications=[notification_out(n) for n in result.notifications],
    )
