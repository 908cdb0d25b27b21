"""Looking up a row that belongs to a team, the same way everywhere."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from opsyard import errors
from opsyard.errors import OpsyardError
from opsyard.teams.models import Team


class TeamOwned(Protocol):
    team_id: int


RowT = TypeVar("RowT", bound=TeamOwned)


def get_team_row(
    session: Session, model: type[RowT], row_id: object, *, team: Team, what: str
) -> RowT:
    """The `model` row `row_id` of `team`. Another team's row answers 404 exactly like a
    missing one, so ids never reveal what other teams have."""
    row = session.get(model, row_id)
    if row is None or row.team_id != team.id:
        raise OpsyardError(errors.NOT_FOUND, f"No {what} {row_id} in {team.slug}.")
    return row
