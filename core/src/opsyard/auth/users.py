"""Creating users, changing passwords and logging in."""

from __future__ import annotations

from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.audit import service as audit
from opsyard.auth.models import User
from opsyard.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from opsyard.db.base import utcnow
from opsyard.errors import FieldProblem, OpsyardError


def normalise_email(email: str) -> str:
    """The canonical form of an address; raises a user_fixable error when it is not one."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"{email!r} is not a valid email address: {exc}",
            fields=[FieldProblem("/email", "Give an address such as ana@example.com.")],
        ) from exc


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"The password is shorter than {MIN_PASSWORD_LENGTH} characters.",
            fields=[FieldProblem("/password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
        )


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def require_by_email(session: Session, email: str) -> User:
    user = get_by_email(session, email)
    if user is None:
        raise OpsyardError(errors.NOT_FOUND, f"No user with email {email!r}.")
    return user


def create_user(
    session: Session,
    *,
    email: str,
    name: str = "",
    password: str | None = None,
    is_admin: bool = False,
    actor: User | None = None,
) -> User:
    """Create a user; without a password the user can only use API tokens until one is set."""
    address = normalise_email(email)
    if get_by_email(session, address) is not None:
        raise OpsyardError(
            errors.CONFLICT,
            f"A user with email {address!r} already exists.",
            fields=[FieldProblem("/email", "Use another address, or update the existing user.")],
        )
    if password is not None:
        check_password_strength(password)
    user = User(
        email=address,
        name=name.strip(),
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user.created", target=address, detail={"admin": is_admin}
    )
    return user


def set_password(session: Session, user: User, password: str, *, actor: User | None) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor=actor, action="user.password_set", target=user.email)


def deactivate(session: Session, user: User, *, actor: User | None) -> None:
    user.is_active = False
    user.session_epoch += 1
    audit.record(session, actor=actor, action="user.deactivated", target=user.email)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def authenticate(
    session: Session, *, email: str, password: str, max_failures: int, lockout_seconds: int
) -> User:
    """The user with these credentials, or an error; locks the account after repeated failures.

    Failures are counted on the account, so guessing one user's password from many addresses
    is slowed just as much as from one.
    """
    user = get_by_email(session, email)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        raise OpsyardError(
            errors.LOGIN_LOCKED,
            f"Too many failed logins for this account. Try again in {wait} seconds.",
            retry_after=wait,
        )
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + timedelta(seconds=lockout_seconds)
                user.failed_logins = 0
                audit.record(session, actor=None, action="user.locked", target=user.email)
        raise OpsyardError(errors.LOGIN_FAILED)
    user.failed_logins = 0
    user.locked_until = None
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
