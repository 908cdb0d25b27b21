"""The life of a page: trigger, acknowledge, resolve, keyed by a dedup key per team.

A page is a row whose status moves only through conditional writes (insert-if-absent,
update-if-still-in-state), so two callers racing on one dedup key cannot both page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.notifications import errors as notification_errors
from opsyard.notifications.models import (
    ACKNOWLEDGED,
    OPEN_PAGE_STATUSES,
    RESOLVED,
    TRIGGERED,
    Channel,
    Notification,
    Page,
)
from opsyard.notifications.outbox import choose_channels, enqueue, recipients_for
from opsyard.notifications.rows import changed_rows
from opsyard.oncall import service as oncall
from opsyard.teams.models import Team

PageAction = Literal["trigger", "acknowledge", "resolve"]
PAGE_ACTIONS: tuple[PageAction, ...] = ("trigger", "acknowledge", "resolve")


@dataclass(frozen=True)
class PageResult:
    """What `page_oncall` did: the page, the notifications it queued, and whether the call
    changed nothing because the page was already in that state (a duplicate)."""

    page: Page | None
    notifications: list[Notification]
    deduplicated: bool


def check_action(action: str) -> None:
    """Raise `notifications.invalid_action` unless `action` is trigger, acknowledge or resolve."""
    if action not in PAGE_ACTIONS:
        raise OpsyardError(
            notification_errors.INVALID_ACTION,
            f"{action!r} is not a page action.",
            fields=[FieldProblem("/action", "Use trigger, acknowledge or resolve.")],
        )


def _find_page(session: Session, *, team: Team, dedup_key: str) -> Page | None:
    # populate_existing: another transaction may have moved the page since we last looked.
    query = select(Page).where(Page.team_id == team.id, Page.dedup_key == dedup_key)
    return session.scalar(query.execution_options(populate_existing=True))


def _insert_page_unless_present(session: Session, values: dict[str, Any]) -> bool:
    """Insert a page unless one with its dedup key exists; False when another transaction
    (a concurrent trigger) got there first. ON CONFLICT DO NOTHING waits for that other
    transaction instead of failing, and exists on both PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Page)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["team_id", "dedup_key"])
        # RETURNING rather than rowcount: drivers disagree on rowcount for this statement.
        .returning(Page.id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def _move_page(
    session: Session, page: Page, *, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """Change the page only if it is still in one of `from_statuses`; a conditional update,
    so two concurrent callers cannot both make the same change."""
    statement = (
        update(Page)
        .where(Page.id == page.id, Page.status.in_(from_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    moved = changed_rows(session, statement) == 1
    session.refresh(page)
    return moved


def trigger(
    session: Session,
    *,
    team: Team,
    summary: str,
    severity: str,
    dedup_key: str,
    body: str,
    details: dict[str, Any],
    channels: Sequence[int] | None,
    rotation: str | None,
    source: str,
    at: datetime,
) -> PageResult:
    """Open the page (or reopen a resolved one) and queue it to the channels, naming whoever
    is on call at `at`; an open page is left alone."""
    page = _find_page(session, team=team, dedup_key=dedup_key)
    if page is not None and page.status in OPEN_PAGE_STATUSES:
        return PageResult(page, [], deduplicated=True)
    person = oncall.team_on_call(session, team=team, at=at, rotation=rotation)
    opened = {
        "status": TRIGGERED,
        "summary": summary,
        "severity": severity,
        "oncall_user_id": person.id if person else None,
        "triggered_at": at,
        "acknowledged_at": None,
        "resolved_at": None,
    }
    if page is None:
        created = _insert_page_unless_present(
            session, {"team_id": team.id, "dedup_key": dedup_key, **opened}
        )
        page = _find_page(session, team=team, dedup_key=dedup_key)
        assert page is not None
        if not created:
            return PageResult(page, [], deduplicated=True)
    elif not _move_page(session, page, from_statuses=(RESOLVED,), values=opened):
        return PageResult(page, [], deduplicated=True)
    queued = [
        enqueue(
            session,
            team=team,
            channel=channel,
            purpose="page",
            action="trigger",
            severity=severity,
            summary=summary,
            body=body,
            details=details,
            dedup_key=dedup_key,
            source=source,
            at=at,
            page=page,
            person=person,
            recipients=recipients_for(channel, person),
        )
        for channel in choose_channels(
            session, team=team, channel_ids=channels, with_pagerduty=True
        )
    ]
    session.flush()
    return PageResult(page, queued, deduplicated=False)


def follow_up(
    session: Session,
    *,
    team: Team,
    action: str,
    dedup_key: str,
    body: str,
    details: dict[str, Any],
    source: str,
    at: datetime,
) -> PageResult:
    """Acknowledge or resolve an open page and tell the channels its trigger reached."""
    page = _find_page(session, team=team, dedup_key=dedup_key)
    if page is None:
        return PageResult(None, [], deduplicated=True)
    if action == "acknowledge":
        moved = _move_page(
            session,
            page,
            from_statuses=(TRIGGERED,),
            values={"status": ACKNOWLEDGED, "acknowledged_at": at},
        )
    else:
        moved = _move_page(
            session,
            page,
            from_statuses=OPEN_PAGE_STATUSES,
            values={"status": RESOLVED, "resolved_at": at},
        )
    if not moved:
        return PageResult(page, [], deduplicated=True)
    person = session.get(User, page.oncall_user_id) if page.oncall_user_id else None
    queued = [
        enqueue(
            session,
            team=team,
            channel=channel,
            purpose="page",
            action=action,
            severity=page.severity,
            summary=page.summary,
            body=body,
            details=details,
            dedup_key=dedup_key,
            source=source,
            at=at,
            page=page,
            person=person,
            recipients=recipients_for(channel, person),
        )
        for channel in _paged_channels(session, page)
    ]
    session.flush()
    return PageResult(page, queued, deduplicated=False)


def _paged_channels(session: Session, page: Page) -> list[Channel]:
    """The enabled channels this page's latest trigger went to."""
    triggered = select(Notification.channel_id).where(
        Notification.page_id == page.id,
        Notification.action == "trigger",
        Notification.created_at >= page.triggered_at,
    )
    query = select(Channel).where(Channel.id.in_(triggered), Channel.enabled.is_(True))
    return list(session.scalars(query.order_by(Channel.id)))
