"""/api/v1/users and /api/v1/me."""

from __future__ import annotations

from fastapi import APIRouter, status

from opsyard.api.deps import AdminPrincipal, CurrentPrincipal, DbSession
from opsyard.api.schemas import UserCreate, UserOut
from opsyard.auth import users

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserOut)
def who_am_i(principal: CurrentPrincipal) -> UserOut:
    """The user behind this token or session."""
    return UserOut.model_validate(principal.user)


@router.get("/users", response_model=list[UserOut])
def list_users(session: DbSession, _: AdminPrincipal) -> list[UserOut]:
    """Every user (site admins only)."""
    return [UserOut.model_validate(u) for u in users.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: DbSession, admin: AdminPrincipal) -> UserOut:
    """Create a user (site admins only)."""
    user = users.create_user(
        session,
        email=body.email,
        name=body.name,
        password=body.password,
        is_admin=body.is_admin,
        actor=admin.user,
    )
    return UserOut.model_validate(user)
