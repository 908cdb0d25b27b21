"""Request and response bodies of /api/v1/teams/{team}/calendar."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class SprintOut(BaseModel):
    number: int
    name: str
    starts_on: date
    ends_on: date


class ListedSprintIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    starts_on: date
    ends_on: date


class CalendarIn(BaseModel):
    """Either a cadence (`length_days` and `anchor_on`) or an explicit list of `sprints`."""

    mode: Literal["cadence", "explicit"]
    length_days: int | None = Field(default=None, description="Cadence: days per sprint.")
    anchor_on: date | None = Field(
        default=None, description="Cadence: the first day of any one sprint."
    )
    sprints: list[ListedSprintIn] = Field(default_factory=list, description="Explicit sprints.")


class CalendarOut(BaseModel):
    mode: Literal["cadence", "explicit"]
    length_days: int | None
    anchor_on: date | None
    is_default: bool
    sprints: list[SprintOut] = Field(description="Explicit calendars: every listed sprint.")
    current: SprintOut
    upcoming: list[SprintOut] = Field(description="The current sprint and the five after it.")
