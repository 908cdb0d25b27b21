"""Creating, changing and removing a team's notification channels.

Each kind keeps what it needs: PagerDuty a routing key, Slack its incoming-webhook URL (the
URL is the credential), a generic webhook its URL and a generated ``whsec_`` signing secret,
email its recipients. Secrets are returned once, at creation, and never again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard import errors, net
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.config import Settings
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.notifications import errors as notification_errors
from opsyard.notifications.models import Channel
from opsyard.teams.models import Team
from opsyard.teams.owned import get_team_row
from opsyard.webhooks import signing

ChannelKind = Literal["pagerduty", "slack", "webhook", "email"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = ("pagerduty", "slack", "webhook", "email")

# PagerDuty integration ("routing") keys are 32 characters; anything else is a paste error.
ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{32}$")
MAX_RECIPIENTS = 20


@dataclass(frozen=True)
class CreatedChannel:
    """A new channel and, for webhooks, the signing secret to show once."""

    channel: Channel
    secret: str | None


def _invalid(detail: str, pointer: str, hint: str) -> OpsyardError:
    return OpsyardError(
        notification_errors.INVALID_CHANNEL, detail, fields=[FieldProblem(pointer, hint)]
    )


def check_routing_key(routing_key: str) -> str:
    """The routing key, trimmed; refused unless it has PagerDuty's 32 characters."""
    key = routing_key.strip()
    if not ROUTING_KEY.fullmatch(key):
        raise _invalid(
            "A PagerDuty routing key is 32 letters and digits.",
            "/routing_key",
            "Copy the Integration Key of an Events API v2 integration in PagerDuty.",
        )
    return key


def check_slack_url(url: str, *, settings: Settings) -> str:
    """The webhook URL, trimmed; refused unless it is under the Slack base URL setting."""
    url = url.strip()
    base = settings.slack_webhook_url.rstrip("/") + "/"
    # Only Slack's webhook host: a Slack channel must not become a way to call anything else.
    if not url.startswith(base):
        raise _invalid(
            f"Slack incoming-webhook URLs start with {base}.",
            "/webhook_url",
            "Copy the Webhook URL of a Slack app's incoming webhook.",
        )
    net.check_target(url, allow_private=settings.allow_private_targets, pointer="/webhook_url")
    return url


def check_webhook_url(url: str, *, settings: Settings) -> str:
    """The URL, trimmed; refused unless the outbound guard allows it."""
    url = url.strip()
    net.check_target(url, allow_private=settings.allow_private_targets, pointer="/url")
    return url


def check_recipients(addresses: Sequence[str]) -> list[str]:
    """The addresses, normalised; refused unless there are 1 to 20 valid ones."""
    if not 1 <= len(addresses) <= MAX_RECIPIENTS:
        raise _invalid(
            f"Give between 1 and {MAX_RECIPIENTS} recipients.",
            "/to",
            "List the addresses that receive this channel's emails.",
        )
    found: list[str] = []
    for index, address in enumerate(addresses):
        try:
            valid = validate_email(address.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise _invalid(
                f"{address!r} is not an email address: {exc}",
                f"/to/{index}",
                "Give an address such as oncall@example.com.",
            ) from exc
        found.append(valid.normalized)
    return found


def require_smtp(settings: Settings) -> None:
    """Refuse email channels on a portal with no SMTP server configured."""
    if not settings.smtp_host:
        raise OpsyardError(notification_errors.SMTP_NOT_CONFIGURED)


def _check_name(session: Session, *, team: Team, name: str, channel_id: int | None) -> None:
    query = select(Channel.id).where(Channel.team_id == team.id, Channel.name == name)
    existing = session.scalar(query)
    if existing is not None and existing != channel_id:
        raise OpsyardError(
            errors.CONFLICT,
            f"Team {team.slug} already has a channel named {name!r}.",
            fields=[FieldProblem("/name", "Choose another name.")],
        )


def create_channel(
    session: Session,
    *,
    team: Team,
    kind: ChannelKind,
    name: str,
    settings: Settings,
    actor: User | None,
    routing_key: str | None = None,
    webhook_url: str | None = None,
    url: str | None = None,
    to: Sequence[str] | None = None,
) -> CreatedChannel:
    """Create a channel of `kind`, giving the settings that kind needs."""
    _check_name(session, team=team, name=name, channel_id=None)
    config: dict[str, object] = {}
    secret: str | None = None
    shown: str | None = None
    if kind == "pagerduty":
        secret = check_routing_key(routing_key or "")
    elif kind == "slack":
        secret = check_slack_url(webhook_url or "", settings=settings)
    elif kind == "webhook":
        config["url"] = check_webhook_url(url or "", settings=settings)
        secret = shown = signing.new_secret()
    elif kind == "email":
        require_smtp(settings)
        config["to"] = check_recipients(to or [])
    else:
        raise _invalid(f"{kind!r} is not a channel kind.", "/kind", ", ".join(CHANNEL_KINDS))
    channel = Channel(
        team_id=team.id,
        kind=kind,
        name=name,
        config=config,
        secret=secret,
        created_by_id=actor.id if actor else None,
    )
    session.add(channel)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="notifications.channel_created",
        target=name,
        team_id=team.id,
        detail={"kind": kind},
    )
    return CreatedChannel(channel=channel, secret=shown)


def update_channel(
    session: Session,
    *,
    team: Team,
    channel: Channel,
    actor: User | None,
    name: str | None = None,
    enabled: bool | None = None,
) -> Channel:
    """Rename a channel or switch it on or off; a switched-off channel sends nothing."""
    detail: dict[str, object] = {}
    if name is not None and name != channel.name:
        _check_name(session, team=team, name=name, channel_id=channel.id)
        detail["name"] = {"from": channel.name, "to": name}
        channel.name = name
    if enabled is not None and enabled != channel.enabled:
        detail["enabled"] = enabled
        channel.enabled = enabled
    if detail:
        audit.record(
            session,
            actor=actor,
            action="notifications.channel_changed",
            target=channel.name,
            team_id=team.id,
            detail=detail,
        )
    return channel


def delete_channel(session: Session, *, team: Team, channel: Channel, actor: User | None) -> None:
    """Delete a channel; its delivery log stays, naming the channel it went to."""
    session.delete(channel)
    audit.record(
        session,
        actor=actor,
        action="notifications.channel_deleted",
        target=channel.name,
        team_id=team.id,
    )


def list_channels(session: Session, *, team: Team) -> list[Channel]:
    """The team's channels, oldest first."""
    query = select(Channel).where(Channel.team_id == team.id).order_by(Channel.id)
    return list(session.scalars(query))


def get_channel(session: Session, *, team: Team, channel_id: int) -> Channel:
    """The team's channel `channel_id`; 404 when it is another team's or does not exist."""
    return get_team_row(session, Channel, channel_id, team=team, what="channel")
