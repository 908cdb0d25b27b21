"""Managing integrations, and taking in what senders deliver to them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsyard import errors, secret_rotation
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.errors import OpsyardError
from opsyard.inbound.models import InboundIntegration, InboundStatus, ReceivedWebhook
from opsyard.inbound.providers import PROVIDERS
from opsyard.teams.models import Team

HOOKS_PATH = "/api/v1/hooks"


def new_public_id() -> str:
    """An integration id for the URL: 192 random bits, so endpoints cannot be guessed."""
    return "ih_" + secrets.token_urlsafe(24)


def hook_url(base_url: str, integration: InboundIntegration) -> str:
    """The URL to give the sender."""
    return f"{base_url.rstrip('/')}{HOOKS_PATH}/{integration.provider}/{integration.public_id}"


def create_integration(
    session: Session, *, team: Team, provider: str, name: str = "", actor: User | None
) -> tuple[InboundIntegration, str]:
    """Create an integration; returns it with its secret, which is shown this once."""
    secret = PROVIDERS[provider].new_secret()
    integration = InboundIntegration(
        public_id=new_public_id(),
        team_id=team.id,
        provider=provider,
        name=name,
        secret=secret,
        created_by_id=actor.id if actor else None,
    )
    session.add(integration)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.created",
        target=integration.public_id,
        team_id=team.id,
        detail={"provider": provider, "name": name},
    )
    return integration, secret


def list_integrations(session: Session, *, team: Team) -> list[InboundIntegration]:
    query = select(InboundIntegration).where(InboundIntegration.team_id == team.id)
    return list(session.scalars(query.order_by(InboundIntegration.id)))


def get_integration(session: Session, *, team: Team, public_id: str) -> InboundIntegration:
    """The team's integration; another team's looks as if it did not exist."""
    found = session.scalar(
        select(InboundIntegration).where(InboundIntegration.public_id == public_id)
    )
    if found is None or found.team_id != team.id:
        raise OpsyardError(errors.NOT_FOUND, f"No integration {public_id!r}.")
    return found


def update_integration(
    session: Session,
    *,
    integration: InboundIntegration,
    name: str | None = None,
    enabled: bool | None = None,
    actor: User | None,
) -> InboundIntegration:
    """Rename it, or switch it off (its URL then answers 404) and on."""
    changed: dict[str, object] = {}
    if name is not None:
        integration.name = changed["name"] = name
    if enabled is not None:
        integration.enabled = changed["enabled"] = enabled
    audit.record(
        session,
        actor=actor,
        action="integration.updated",
        target=integration.public_id,
        team_id=integration.team_id,
        detail=changed,
    )
    return integration


def delete_integration(
    session: Session, *, integration: InboundIntegration, actor: User | None
) -> None:
    audit.record(
        session,
        actor=actor,
        action="integration.deleted",
        target=integration.public_id,
        team_id=integration.team_id,
    )
    session.delete(integration)


def rotate_secret(
    session: Session,
    *,
    integration: InboundIntegration,
    now: datetime,
    overlap: timedelta,
    actor: User | None,
) -> str:
    """Replace the secret; requests signed with the old one are still accepted for
    `overlap`, while the sender's configuration catches up. Returns the new secret."""
    secret = PROVIDERS[integration.provider].new_secret()
    secret_rotation.rotate(integration, new_secret=secret, now=now, overlap=overlap)
    audit.record(
        session,
        actor=actor,
        action="integration.secret_rotated",
        target=integration.public_id,
        team_id=integration.team_id,
    )
    return secret


def verifying_secrets(integration: InboundIntegration, *, now: datetime) -> list[str]:
    return secret_rotation.secrets_in_use(integration, now=now)


@dataclass(frozen=True)
class Receipt:
    duplicate: bool


def receive(
    session: Session,
    *,
    provider: str,
    public_id: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Receipt:
    """Verify a delivery on its raw body, then store it unless it was stored before.

    An unknown id, an id of another provider and a switched-off integration all answer the
    same 404, so the answer says no more than that this URL takes no webhooks.
    """
    handler = PROVIDERS.get(provider)
    integration = session.scalar(
        select(InboundIntegration).where(InboundIntegration.public_id == public_id)
    )
    if (
        handler is None
        or integration is None
        or integration.provider != provider
        or not integration.enabled
    ):
        raise OpsyardError(errors.NOT_FOUND, "No webhook endpoint at this address.")
    handler.verify(
        secrets_in_use=verifying_secrets(integration, now=now), body=body, headers=headers
    )
    parsed = handler.parse(body=body, headers=headers)
    stored = _insert_once(
        session,
        integration_id=integration.id,
        delivery_id=parsed.delivery_id,
        event=parsed.event[:200],
        payload=parsed.payload,
        received_at=now,
        status=InboundStatus.PENDING,
        next_attempt_at=now,
        handled_by=[],
        duplicates=0,
    )
    if not stored:
        session.execute(
            update(ReceivedWebhook)
            .where(
                ReceivedWebhook.integration_id == integration.id,
                ReceivedWebhook.delivery_id == parsed.delivery_id,
            )
            .values(duplicates=ReceivedWebhook.duplicates + 1)
            .execution_options(synchronize_session=False)
        )
    integration.last_received_at = now
    return Receipt(duplicate=not stored)


def _insert_once(session: Session, **values: object) -> bool:
    """Insert the row unless its delivery id is already stored; True when it was inserted.

    ON CONFLICT DO NOTHING settles two simultaneous copies of one delivery inside the
    database, where a look-first-then-insert would let both through.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ReceivedWebhook)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["integration_id", "delivery_id"])
        .returning(ReceivedWebhook.id)
    )
    return session.execute(statement).scalar() is not None


def list_received(
    session: Session,
    *,
    integration: InboundIntegration,
    before: int | None = None,
    limit: int = 50,
) -> list[ReceivedWebhook]:
    """What the integration received, newest first."""
    query = select(ReceivedWebhook).where(ReceivedWebhook.integration_id == integration.id)
    if before is not None:
        query = query.where(ReceivedWebhook.id < before)
    return list(session.scalars(query.order_by(ReceivedWebhook.id.desc()).limit(limit)))


def get_received(
    session: Session, *, integration: InboundIntegration, received_id: int
) -> ReceivedWebhook:
    found = session.get(ReceivedWebhook, received_id)
    if found is None or found.integration_id != integration.id:
        raise OpsyardError(errors.NOT_FOUND, f"No delivery {received_id} for this integration.")
    return found
