"""The parking lot: further ideas from a post-mortem, with no owner, no deadline and no
escalation, so the three action items stay the ones that matter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.db.base import utcnow
from opsyard_postmortems.models import ParkingLotIdea, PostMortem
from opsyard_postmortems.postmortems import remove_part
from opsyard_postmortems.schemas import IdeaIn


def add_idea(
    session: Session,
    *,
    postmortem: PostMortem,
    actor: User | None,
    data: IdeaIn,
    now: datetime | None = None,
) -> ParkingLotIdea:
    """Park an idea on the post-mortem."""
    idea = ParkingLotIdea(
        postmortem_id=postmortem.id,
        text=data.text,
        created_by_id=actor.id if actor else None,
        created_at=now or utcnow(),
    )
    session.add(idea)
    session.flush()
    session.expire(postmortem, ["ideas"])
    return idea


def delete_idea(
    session: Session, *, postmortem: PostMortem, idea_id: int, actor: User | None
) -> None:
    """Remove an idea from the parking lot (promoted to an item, or dropped)."""
    remove_part(
        session,
        postmortem=postmortem,
        model=ParkingLotIdea,
        row_id=idea_id,
        collection="ideas",
        what="parked idea",
    )
