"""Request and response bodies of the on-call API."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from opsyard.api.schemas import Strict

Period = Literal["daily", "weekly"]


class PersonOut(BaseModel):
    email: str
    name: str


class RotationCreate(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["primary"])
    timezone: str = Field(examples=["Europe/Berlin"], description="An IANA timezone name.")
    handoff_time: time = Field(examples=["09:00"], description="Local time of the hand-off.")
    period: Period = "weekly"
    start_date: date = Field(description="The local date of the first hand-off.")
    members: list[str] = Field(
        min_length=1, description="Emails of team members, in the order they take turns."
    )


class RotationPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    timezone: str | None = None
    handoff_time: time | None = None
    period: Period | None = None
    start_date: date | None = None
    members: list[str] | None = Field(default=None, min_length=1)


class RotationOut(BaseModel):
    id: int
    name: str
    timezone: str
    handoff_time: time
    period: Period
    start_date: date
    members: list[PersonOut]
    created_at: datetime


class OverrideCreate(Strict):
    user: str = Field(description="Email of the team member who covers the window.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class OverrideOut(BaseModel):
    id: int
    user: PersonOut
    starts_at: datetime
    ends_at: datetime
    created_at: datetime


class OnCallOut(BaseModel):
    rotation_id: int
    rotation: str
    user: PersonOut | None = Field(description="Null when nobody is on call.")
    source: Literal["rotation", "override", "nobody"]
    until: datetime = Field(description="When this answer next changes.")


class OnCallNowOut(BaseModel):
    at: datetime
    rotations: list[OnCallOut] = Field(description="Every rotation; the first is the primary.")


class SegmentOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    user: PersonOut | None
    source: Literal["rotation", "override", "nobody"]
