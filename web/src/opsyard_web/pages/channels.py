"""Team owners adding, switching, testing and deleting notification channels.

Each form answers with the channels section of the integrations page. A webhook channel's
signing secret is in the answer to its creation only; routing keys and Slack URLs, typed in
by the owner, are never shown back at all, not even in a form that failed.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.notifications import channels as channel_service
from opsyard.notifications import service as notifications
from opsyard.notifications.channels import ChannelKind
from opsyard_web.forms import FormState
from opsyard_web.pages import inputs
from opsyard_web.pages.integrations import CHANNEL_KINDS, Revealed, apply

router = APIRouter(prefix="/t/{team}/integrations/channels")

BLOCK = "channels"
FORM = "channel_form"


@router.post("")
def create_channel(
    request: Request,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    kind: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    routing_key: Annotated[str, Form()] = "",
    webhook_url: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
) -> Response:
    # The routing key and the Slack URL are credentials: a failed form is not refilled.
    values = {"kind": kind, "name": name, "url": url, "to": to}

    def change() -> dict[str, Any]:
        if kind not in CHANNEL_KINDS:
            raise inputs.invalid("kind", f"{kind!r} is not a channel kind.", "Pick a kind.")
        created = channel_service.create_channel(
            session,
            team=access.team,
            kind=cast(ChannelKind, kind),
            name=inputs.text(name, name="name", label="Name", max_length=100),
            settings=portal.settings,
            actor=access.user,
            routing_key=routing_key,
            webhook_url=webhook_url,
            url=url,
            to=inputs.lines(to),
        )
        channel = created.channel
        shown: dict[str, Any] = {
            FORM: FormState(values={"kind": kind}, done=f"Channel “{channel.name}” is added.")
        }
        if created.secret is not None:
            shown["channel_secret"] = Revealed(
                title=f"Channel “{channel.name}” is added.",
                secret=created.secret,
                field_id=f"channel-secret-{channel.id}",
                hint="Verify each request's webhook-signature with it (Standard Webhooks).",
            )
            shown[FORM] = FormState(values={"kind": kind})
        return shown

    return apply(
        request, session, portal, access, block=BLOCK, form_key=FORM, change=change, values=values
    )


@router.post("/{channel_id}/enabled")
def switch_channel(
    request: Request,
    channel_id: int,
    access: TeamOwner,
    session: DbSession,
    portal: Portal,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    def change() -> dict[str, Any]:
        channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
        turned_on = inputs.flag(enabled)
        channel_service.update_channel(
            session, team=access.team, channel=channel, actor=access.user, enabled=turned_on
        )
        state = "on" if turned_on else "off: it sends nothing until switched on"
        return {FORM: _blank(f"“{channel.name}” is {state}.")}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{channel_id}/test")
def test_channel(
    request: Request, channel_id: int, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
        notifications.send_test(session, team=access.team, channel=channel, actor=access.user)
        return {
            FORM: _blank(
                f"A test message to “{channel.name}” is queued; follow it in the delivery log."
            )
        }

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


@router.post("/{channel_id}/delete")
def delete_channel(
    request: Request, channel_id: int, access: TeamOwner, session: DbSession, portal: Portal
) -> Response:
    def change() -> dict[str, Any]:
        channel = channel_service.get_channel(session, team=access.team, channel_id=channel_id)
        name = channel.name
        channel_service.delete_channel(
            session, team=access.team, channel=channel, actor=access.user
        )
        return {FORM: _blank(f"“{name}” is deleted; its delivery log is kept.")}

    return apply(request, session, portal, access, block=BLOCK, form_key=FORM, change=change)


def _blank(done: str) -> FormState:
    return FormState(values={"kind": "slack"}, done=done)
