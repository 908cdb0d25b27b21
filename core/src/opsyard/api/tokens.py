"""/api/v1/tokens: the caller's own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.api.deps import CurrentPrincipal, DbSession
from opsyard.api.schemas import TokenCreate, TokenIssued, TokenOut
from opsyard.auth import tokens
from opsyard.auth.models import ApiToken
from opsyard.errors import OpsyardError
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team

router = APIRouter(prefix="/tokens", tags=["tokens"])


def token_out(session: Session, token: ApiToken) -> TokenOut:
    team = session.get(Team, token.team_id) if token.team_id is not None else None
    return TokenOut(
        id=token.lookup_id,
        name=token.name,
        team=team.slug if team else None,
        role=Role(token.role) if token.role else None,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


@router.get("", response_model=list[TokenOut])
def list_tokens(session: DbSession, principal: CurrentPrincipal) -> list[TokenOut]:
    return [token_out(session, t) for t in tokens.list_for_user(session, principal.user)]


@router.post("", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: DbSession, principal: CurrentPrincipal) -> TokenIssued:
    """Create a token for yourself. A token never grants more than its creator holds."""
    if principal.token is not None and principal.token.team_id is not None:
        raise OpsyardError(errors.FORBIDDEN, "A token limited to one team cannot mint tokens.")
    team = None
    if body.team is not None:
        team = teams.get_by_slug(session, body.team)
        if team is None or principal.role_in(session, team) is None:
            raise OpsyardError(errors.NOT_FOUND, f"No team {body.team!r}.")
    issued = tokens.issue(
        session,
        user=principal.user,
        name=body.name,
        team=team,
        role=body.role,
        expires_in_days=body.expires_in_days,
        actor=principal.user,
    )
    out = token_out(session, issued.token)
    return TokenIssued(**out.model_dump(), token=issued.plaintext)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Revoke one of your tokens (site admins may revoke anyone's)."""
    token = tokens.get_by_lookup_id(session, token_id)
    if token is None or (token.user_id != principal.user.id and not principal.is_admin):
        raise OpsyardError(errors.NOT_FOUND, f"No token {token_id!r}.")
    tokens.revoke(session, token, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
