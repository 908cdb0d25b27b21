"""The post-mortems plugin's tables, all prefixed ``postmortems_``.

An action item carries its team (copied from its post-mortem) and the instant of its next
escalation step in an indexed column, so the sweep reads only the items that are due.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsyard.auth.models import User
from opsyard.db.base import Base, UTCDateTime, utcnow

# Post-mortem statuses, in the order a post-mortem moves through them.
DRAFT, IN_REVIEW, PUBLISHED = "draft", "in_review", "published"
POSTMORTEM_STATUSES = (DRAFT, IN_REVIEW, PUBLISHED)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")

# Action item statuses. "Escalated" is not a status: an open item with `escalated_at` set.
OPEN, DONE, DEPRIORITIZED = "open", "done", "deprioritized"
ITEM_STATUSES = (OPEN, DONE, DEPRIORITIZED)

# Escalation ladder steps, in order; `ActionItem.next_step` names the one due next.
REMIND, OVERDUE, ESCALATE = "remind", "overdue", "escalate"
LADDER = (REMIND, OVERDUE, ESCALATE)


class PostMortem(Base):
    __tablename__ = "postmortems_postmortems"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        UniqueConstraint("team_id", "source_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    # Per team, from 1: "PM-7" reads better than a global id.
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT, index=True)
    incident_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    incident_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Markdown, rendered with raw HTML disabled.
    summary: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    contributing_factors: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    # Who is asked to review; their approval (approved_by) is what allows publishing.
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Where a draft came from: "manual", or "alertmanager" with the alert's fingerprint as
    # `source_ref`, so a resolved alert delivered twice opens one draft.
    source: Mapped[str] = mapped_column(String(20), default="manual")
    source_ref: Mapped[str | None] = mapped_column(String(255), default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reviewer: Mapped[User | None] = relationship(foreign_keys=[reviewer_id], lazy="joined")
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id], lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")
    authors: Mapped[list[Author]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        lazy="selectin",
        order_by="TimelineEntry.occurred_at, TimelineEntry.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    links: Mapped[list[Link]] = relationship(
        lazy="selectin", order_by="Link.id", cascade="all, delete-orphan", passive_deletes=True
    )
    items: Mapped[list[ActionItem]] = relationship(
        lazy="selectin",
        order_by="ActionItem.id",
        back_populates="postmortem",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    ideas: Mapped[list[ParkingLotIdea]] = relationship(
        lazy="selectin",
        order_by="ParkingLotIdea.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def reference(self) -> str:
        """How people refer to it: ``PM-7``."""
        return f"PM-{self.number}"


class Author(Base):
    __tablename__ = "postmortems_authors"

    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_postmortems.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    user: Mapped[User] = relationship(lazy="joined")


class TimelineEntry(Base):
    __tablename__ = "postmortems_timeline_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_postmortems.id", ondelete="CASCADE"), index=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class Link(Base):
    __tablename__ = "postmortems_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_postmortems.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2048))


class ParkingLotIdea(Base):
    """A further idea from a post-mortem: no owner, no deadline, no escalation."""

    __tablename__ = "postmortems_parking_lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_postmortems.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ActionItem(Base):
    __tablename__ = "postmortems_action_items"
    __table_args__ = (
        # The sweep: due steps across all teams, oldest first. Closed items have no
        # next_action_at, so the index holds only items that still have a step ahead.
        Index("ix_postmortems_action_items_next_action_at", "next_action_at"),
        Index("ix_postmortems_action_items_owner_status", "owner_id", "status"),
        Index("ix_postmortems_action_items_team_status", "team_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_postmortems.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The last day the item is due on; `deadline_rule` keeps "sprint+k" when it was
    # given that way, so the page can say "end of sprint +1".
    deadline: Mapped[date] = mapped_column(Date)
    deadline_rule: Mapped[str | None] = mapped_column(String(20), default=None)
    # Fixed when the item is created: the sprint it was created in, and the last day of the
    # team's escalation window (that sprint plus the team's "escalate after" sprints).
    created_sprint: Mapped[str] = mapped_column(String(100))
    escalate_after: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    extensions_used: Mapped[int] = mapped_column(Integer, default=0)
    # The escalation ladder: the next step and when it is due (None once nothing is ahead).
    next_step: Mapped[str | None] = mapped_column(String(20), default=None)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Done: evidence is a link, a note, or both.
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    evidence_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    evidence_note: Mapped[str | None] = mapped_column(Text, default=None)
    # Deprioritized: why, who decided, and when to look again.
    deprioritized_reason: Mapped[str | None] = mapped_column(Text, default=None)
    deprioritized_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    deprioritized_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revisit_on: Mapped[date | None] = mapped_column(Date, default=None)
    # A linked tracker issue: its URL, and a key the GitHub integration looks items up by
    # ("github:owner/repo#123").
    tracker_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    tracker_key: Mapped[str | None] = mapped_column(String(300), default=None, index=True)
    # Set when the linked issue was closed as not planned: the owner must decide.
    decision_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id], lazy="joined")
    postmortem: Mapped[PostMortem] = relationship(back_populates="items", lazy="joined")
    deprioritized_by: Mapped[User | None] = relationship(
        foreign_keys=[deprioritized_by_id], lazy="joined"
    )


class ItemHistory(Base):
    """Everything that happened to an action item, in order: created, reminded, overdue,
    escalated, done, reopened, deprioritized, deadline_extended, owner_changed, linked,
    decision_needed. `detail` holds what the change needs to be understood later (a reason,
    the old and new deadline, the evidence)."""

    __tablename__ = "postmortems_item_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems_action_items.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")


class TeamSettings(Base):
    """A team's post-mortem rules. A team without a row uses the defaults below."""

    __tablename__ = "postmortems_team_settings"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    escalate_after_sprints: Mapped[int] = mapped_column(Integer, default=2)
    max_extensions: Mapped[int] = mapped_column(Integer, default=2)
    reminder_days: Mapped[int] = mapped_column(Integer, default=2)
    team_lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    escalation_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    drafts_from_alerts: Mapped[bool] = mapped_column(Boolean, default=False)

    team_lead: Mapped[User | None] = relationship(foreign_keys=[team_lead_id], lazy="joined")
    escalation_contact: Mapped[User | None] = relationship(
        foreign_keys=[escalation_contact_id], lazy="joined"
    )


class Digest(Base):
    """One owner's digest for one week (or sent on demand): the unique key makes the weekly
    job send it once even when it runs twice."""

    __tablename__ = "postmortems_digests"
    __table_args__ = (UniqueConstraint("team_id", "user_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "2026-W48" for the weekly digest; "demand:<timestamp>" for one asked for.
    period: Mapped[str] = mapped_column(String(40))
    item_count: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
