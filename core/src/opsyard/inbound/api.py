"""Inbound webhooks over HTTP: ``/api/v1/teams/{team}/integrations`` for team owners, and the
public ``/api/v1/hooks/{provider}/{integration_id}`` that senders call."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from opsyard.api.deps import DbSession, Portal, TeamOwner
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.inbound import service
from opsyard.inbound.errors import PAYLOAD_TOO_LARGE
from opsyard.inbound.models import InboundIntegration
from opsyard.inbound.schemas import (
    Accepted,
    IntegrationCreate,
    IntegrationCreated,
    IntegrationOut,
    IntegrationUpdate,
    ReceivedDetail,
    ReceivedOut,
    ReceivedPage,
    SecretRotated,
)

router = APIRouter(prefix="/teams/{team}/integrations", tags=["integrations"])
hooks_router = APIRouter(prefix="/hooks", tags=["inbound webhooks"])


def _out(ctx: PortalContext, integration: InboundIntegration) -> IntegrationOut:
    return IntegrationOut(
        id=integration.public_id,
        provider=integration.provider,
        name=integration.name,
        enabled=integration.enabled,
        url=service.hook_url(ctx.settings.base_url, integration),
        created_at=integration.created_at,
        last_received_at=integration.last_received_at,
        previous_secret_expires_at=integration.previous_secret_expires_at,
    )


@router.get("", response_model=list[IntegrationOut])
def list_integrations(access: TeamOwner, session: DbSession, ctx: Portal) -> list[IntegrationOut]:
    """The team's integrations. Secrets are never shown again."""
    return [_out(ctx, i) for i in service.list_integrations(session, team=access.team)]


@router.post("", response_model=IntegrationCreated, status_code=status.HTTP_201_CREATED)
def create_integration(
    body: IntegrationCreate, access: TeamOwner, session: DbSession, ctx: Portal
) -> IntegrationCreated:
    """Create an endpoint for a sender; the answer has its URL and, this once, its secret."""
    integration, secret = service.create_integration(
        session, team=access.team, provider=body.provider, name=body.name, actor=access.user
    )
    return IntegrationCreated(**_out(ctx, integration).model_dump(), secret=secret)


@router.get("/{integration_id}", response_model=IntegrationOut)
def get_integration(
    integration_id: str, access: TeamOwner, session: DbSession, ctx: Portal
) -> IntegrationOut:
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    return _out(ctx, found)


@router.patch("/{integration_id}", response_model=IntegrationOut)
def update_integration(
    integration_id: str, body: IntegrationUpdate, access: TeamOwner, session: DbSession, ctx: Portal
) -> IntegrationOut:
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    service.update_integration(
        session, integration=found, name=body.name, enabled=body.enabled, actor=access.user
    )
    return _out(ctx, found)


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_integration(integration_id: str, access: TeamOwner, session: DbSession) -> Response:
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    service.delete_integration(session, integration=found, actor=access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{integration_id}/rotate-secret", response_model=SecretRotated)
def rotate_secret(
    integration_id: str, access: TeamOwner, session: DbSession, ctx: Portal
) -> SecretRotated:
    """Issue a new secret; the old one is still accepted for the overlap window."""
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    secret = service.rotate_secret(
        session,
        integration=found,
        now=utcnow(),
        overlap=ctx.settings.webhook_secret_overlap,
        actor=access.user,
    )
    return SecretRotated(secret=secret, previous_secret_expires_at=found.previous_secret_expires_at)


@router.get("/{integration_id}/deliveries", response_model=ReceivedPage)
def list_received(
    integration_id: str,
    access: TeamOwner,
    session: DbSession,
    before: int | None = Query(default=None, description="next_before of the previous page."),
    limit: int = Query(default=50, ge=1, le=200),
) -> ReceivedPage:
    """What the integration received, newest first, and which plugins acted on each."""
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    rows = service.list_received(session, integration=found, before=before, limit=limit)
    return ReceivedPage(
        items=[ReceivedOut.model_validate(r) for r in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/{integration_id}/deliveries/{delivery_id}", response_model=ReceivedDetail)
def get_received(
    integration_id: str, delivery_id: int, access: TeamOwner, session: DbSession
) -> ReceivedDetail:
    found = service.get_integration(session, team=access.team, public_id=integration_id)
    row = service.get_received(session, integration=found, received_id=delivery_id)
    return ReceivedDetail.model_validate(row)


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to pass `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OpsyardError(PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise OpsyardError(PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    return bytes(body)


def _store(
    ctx: PortalContext, provider: str, public_id: str, body: bytes, headers: dict[str, str]
) -> service.Receipt:
    with session_scope(ctx.sessions) as session:
        return service.receive(
            session,
            provider=provider,
            public_id=public_id,
            body=body,
            headers=headers,
            now=utcnow(),
        )


@hooks_router.post(
    "/{provider}/{integration_id}",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={401: {"description": "Signature missing or wrong"}, 404: {}, 413: {}},
)
async def receive_webhook(
    provider: str, integration_id: str, request: Request, ctx: Portal
) -> Accepted:
    """Take a webhook from GitHub, Alertmanager or a Standard Webhooks sender. No login: the
    signature is the authentication. Answers 202 at once; plugins get it from a job."""
    body = await _read_body(request, ctx.settings.inbound_max_body_bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    receipt = await run_in_threadpool(_store, ctx, provider, integration_id, body, headers)
    return Accepted(duplicate=receipt.duplicate)
