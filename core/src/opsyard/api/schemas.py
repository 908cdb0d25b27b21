"""Request and response bodies of the core API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from opsyard.roles import Role

# A row id as a client may send it: within the 32-bit integer columns ids live in, so an
# absurd number is a 422 that names the field rather than an overflow in the database driver.
ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
# The same bound for ids in a route's path.
PathId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]


class Strict(BaseModel):
    # Unknown fields are refused so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class UserCreate(Strict):
    email: str = Field(examples=["ana@example.com"])
    name: str = ""
    password: str | None = Field(default=None, description="At least 8 characters.")
    is_admin: bool = False


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    created_at: datetime
    role: Role | None = Field(default=None, description="The caller's role in the team.")


class TeamCreate(Strict):
    slug: str = Field(examples=["payments"], description="Lowercase letters, digits, hyphens.")
    name: str = ""


class MemberOut(BaseModel):
    email: str
    name: str
    role: Role
    since: datetime


class MemberPut(Strict):
    role: Role


class MemberAdd(Strict):
    email: str
    role: Role = Role.MEMBER


class TokenCreate(Strict):
    name: str = ""
    team: str | None = Field(default=None, description="Limit the token to this team.")
    role: Role | None = Field(default=None, description="Cap the role within that team.")
    expires_in_days: int = Field(default=90, ge=1, le=366)


class TokenOut(BaseModel):
    id: str = Field(description="The token's public id; the secret is never shown again.")
    name: str
    team: str | None
    role: Role | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="The token itself. Shown once: store it now.")


class PluginOut(BaseModel):
    name: str
    title: str
    description: str
    enabled: bool | None = Field(default=None, description="Per team listings only.")


class PluginFailureOut(BaseModel):
    name: str
    reason: str


class PluginsOut(BaseModel):
    installed: list[PluginOut]
    failed: list[PluginFailureOut]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(validation_alias="actor_label")
    action: str
    target: str
    detail: dict[str, Any]
