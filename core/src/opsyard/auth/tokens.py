"""API tokens: shown once, stored as a hash, recognisable by their prefix.

A token reads ``opsy_<lookup id>_<secret>``. The fixed prefix lets secret scanners recognise a
leaked token; the lookup id finds the row without scanning; only a SHA-256 of the secret is
stored. A fast hash is enough here because the secret is 256 random bits, not a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.audit import service as audit
from opsyard.auth.models import ApiToken, User
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.roles import Role
from opsyard.teams.models import Team

TOKEN_PREFIX = "opsy_"  # noqa: S105  (a public marker, not a secret)
MAX_EXPIRY_DAYS = 366


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    session: Session,
    *,
    user: User,
    name: str = "",
    team: Team | None = None,
    role: Role | None = None,
    expires_in_days: int,
    actor: User | None,
) -> IssuedToken:
    """Create a token for `user`; the plaintext is returned here and never again."""
    if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"Tokens expire after 1 to {MAX_EXPIRY_DAYS} days, not {expires_in_days}.",
            fields=[FieldProblem("/expires_in_days", f"Pick 1 to {MAX_EXPIRY_DAYS}.")],
        )
    if role is not None and team is None:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            "A role limits a token within one team; name the team too.",
            fields=[FieldProblem("/team", "Give the team the role applies to.")],
        )
    lookup_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        lookup_id=lookup_id,
        secret_hash=_digest(secret),
        team_id=team.id if team else None,
        role=role.value if role else None,
        expires_at=utcnow() + timedelta(days=expires_in_days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.created",
        target=f"{user.email}:{lookup_id}",
        team_id=team.id if team else None,
        detail={"name": token.name, "role": token.role, "expires_in_days": expires_in_days},
    )
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{lookup_id}_{secret}")


def resolve(session: Session, plaintext: str) -> ApiToken:
    """The live token matching `plaintext`; records its use. Raises TOKEN_INVALID otherwise."""
    if not plaintext.startswith(TOKEN_PREFIX):
        raise OpsyardError(errors.TOKEN_INVALID)
    lookup_id, _, secret = plaintext[len(TOKEN_PREFIX) :].partition("_")
    token = session.scalar(select(ApiToken).where(ApiToken.lookup_id == lookup_id))
    if token is None or not hmac.compare_digest(token.secret_hash, _digest(secret)):
        raise OpsyardError(errors.TOKEN_INVALID)
    now = utcnow()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise OpsyardError(errors.TOKEN_INVALID)
    token.last_used_at = now
    return token


def list_for_user(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def list_all(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def get_by_lookup_id(session: Session, lookup_id: str) -> ApiToken | None:
    lookup_id = lookup_id.removeprefix(TOKEN_PREFIX).partition("_")[0]
    return session.scalar(select(ApiToken).where(ApiToken.lookup_id == lookup_id))


def revoke(session: Session, token: ApiToken, *, actor: User | None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="token.revoked",
            target=token.lookup_id,
            team_id=token.team_id,
        )
