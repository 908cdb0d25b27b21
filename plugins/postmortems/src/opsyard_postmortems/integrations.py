"""What the plugin does with inbound webhooks, as they arrive through core's integrations.

- GitHub ``issues`` event, action ``closed``: every open item of the team linked to the issue
  is marked done with the issue as evidence (``state_reason`` ``completed``), or flagged for
  its owner to decide (``not_planned``, or ``duplicate``: the work did not happen there).
  Items already done or deprioritized are left alone, so a redelivery changes nothing.
- Prometheus Alertmanager (webhook payload version 4): each resolved alert opens a draft
  post-mortem when the team has switched that on (``drafts_from_alerts``, off by default).
  The draft is keyed by the alert's fingerprint, so the same alert delivered again, alone or
  in another group notification, opens no second draft.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsyard.context import PortalContext
from opsyard.db.engine import session_scope
from opsyard.errors import OpsyardError
from opsyard.extension import InboundDelivery
from opsyard.teams import service as teams
from opsyard.teams.models import Team
from opsyard_postmortems import events, items, postmortems
from opsyard_postmortems.models import OPEN, ActionItem, PostMortem
from opsyard_postmortems.schemas import (
    ItemDoneIn,
    LinkIn,
    PostMortemIn,
    Severity,
    TimelineEntryIn,
)
from opsyard_postmortems.settings import settings_for

log = logging.getLogger(__name__)

COMPLETED = "completed"
UNDONE_REASONS = ("not_planned", "duplicate")
SEVERITY_BY_LABEL: dict[str, Severity] = {
    "critical": "sev1",
    "error": "sev2",
    "high": "sev2",
    "warning": "sev3",
}
ALERT_SOURCE = "alertmanager"
# Alertmanager's "zero" time, sent as endsAt while an alert still fires.
GO_ZERO_YEAR = 1


def handle_inbound_webhook(delivery: InboundDelivery, portal: PortalContext) -> bool:
    """Act on a delivery for a team that has the plugin on; True when something changed."""
    if delivery.provider == "github" and delivery.event == "issues":
        return github_issue_closed(delivery, portal)
    if delivery.provider == "alertmanager":
        return alerts_resolved(delivery, portal)
    return False


# -- GitHub ---------------------------------------------------------------------------------


def github_issue_closed(delivery: InboundDelivery, portal: PortalContext) -> bool:
    """Close or flag the team's open items linked to the issue a GitHub delivery closed."""
    payload = delivery.payload
    issue = payload.get("issue")
    repository = payload.get("repository")
    if payload.get("action") != "closed" or not isinstance(issue, dict):
        return False
    if not isinstance(repository, dict):
        return False
    number, full_name, url = issue.get("number"), repository.get("full_name"), issue.get("html_url")
    reason = issue.get("state_reason")
    if not (isinstance(number, int) and isinstance(full_name, str) and isinstance(url, str)):
        return False
    if reason != COMPLETED and reason not in UNDONE_REASONS:
        return False
    key = items.github_issue_key(full_name, number)
    title = issue.get("title") if isinstance(issue.get("title"), str) else ""
    changed = 0
    with session_scope(portal.sessions) as session:
        team = teams.get_by_slug(session, delivery.team_slug)
        if team is None:
            return False
        linked = session.scalars(
            select(ActionItem)
            .where(
                ActionItem.team_id == team.id,
                ActionItem.tracker_key == key,
                ActionItem.status == OPEN,
            )
            .order_by(ActionItem.id)
        )
        for item in list(linked):
            if reason != COMPLETED and item.decision_needed:
                continue  # already waiting for its owner: a redelivery changes nothing
            note = f"GitHub issue {full_name}#{number} “{title}” was closed as {reason}."
            close = partial(
                _close_item,
                session,
                portal,
                item,
                reason=reason,
                url=url,
                note=note,
                at=delivery.received_at,
            )
            changed += _in_savepoint(session, f"action item {item.id}", close)
    return changed > 0


def _close_item(
    session: Session,
    portal: PortalContext,
    item: ActionItem,
    *,
    reason: str,
    url: str,
    note: str,
    at: datetime,
) -> None:
    if reason == COMPLETED:
        items.complete_item(
            session,
            portal=portal,
            item=item,
            actor=None,
            data=ItemDoneIn(evidence_url=url, evidence_note=note),
            now=at,
        )
    else:
        items.mark_decision_needed(session, item=item, evidence_url=url, note=note, now=at)


def _in_savepoint(session: Session, what: str, work: Callable[[], object]) -> int:
    """Run `work` in a savepoint; 1 when it succeeded, 0 (logged, rolled back) otherwise, so
    one bad item or alert does not undo the others of the same delivery."""
    savepoint = session.begin_nested()
    try:
        work()
        savepoint.commit()
    except (OpsyardError, ValidationError, IntegrityError, ValueError) as exc:
        # Refused by the service, or drafted meanwhile by a copy of this delivery.
        savepoint.rollback()
        log.warning("inbound webhook: %s not handled: %s", what, exc)
        return 0
    except Exception:
        savepoint.rollback()
        log.exception("inbound webhook: %s failed", what)
        return 0
    return 1


# -- Alertmanager ---------------------------------------------------------------------------


def alert_ref(alert: dict[str, Any]) -> str:
    """What identifies one incident of an alert across deliveries: Alertmanager's
    fingerprint (or a hash of the labels it is derived from) and when this firing started,
    so the same alert firing again weeks later is a new incident with its own draft."""
    fingerprint = alert.get("fingerprint")
    if not (isinstance(fingerprint, str) and fingerprint):
        labels = json.dumps(_mapping(alert, "labels"), sort_keys=True, separators=(",", ":"))
        fingerprint = "labels:" + hashlib.sha256(labels.encode()).hexdigest()
    started = alert.get("startsAt")
    suffix = f"@{started}" if isinstance(started, str) and started else ""
    return (fingerprint + suffix)[:255]


def severity_of(labels: dict[str, Any]) -> Severity:
    """critical → sev1, error or high → sev2, warning → sev3, anything else → sev4."""
    label = str(labels.get("severity", "")).strip().lower()
    return SEVERITY_BY_LABEL.get(label, "sev4")


def _mapping(alert: dict[str, Any], key: str) -> dict[str, Any]:
    value = alert.get(key)
    return value if isinstance(value, dict) else {}


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.year <= GO_ZERO_YEAR:
        return None
    return parsed


def alerts_resolved(delivery: InboundDelivery, portal: PortalContext) -> bool:
    """Open a draft post-mortem for each resolved alert of an Alertmanager delivery, when
    the team drafts from alerts."""
    alerts = delivery.payload.get("alerts")
    if not isinstance(alerts, list):
        return False
    resolved = [a for a in alerts if isinstance(a, dict) and a.get("status") == "resolved"]
    if not resolved:
        return False
    drafted = 0
    with session_scope(portal.sessions) as session:
        team = teams.get_by_slug(session, delivery.team_slug)
        if team is None or not settings_for(session, team=team).drafts_from_alerts:
            return False
        for alert in resolved:
            ref = alert_ref(alert)
            known = session.scalar(
                select(PostMortem.id).where(
                    PostMortem.team_id == team.id, PostMortem.source_ref == ref
                )
            )
            if known is not None:
                continue
            draft = partial(
                draft_from_alert, session, portal, team, alert, ref=ref, at=delivery.received_at
            )
            drafted += _in_savepoint(session, f"alert {ref}", draft)
    return drafted > 0


def draft_from_alert(
    session: Session,
    portal: PortalContext,
    team: Team,
    alert: dict[str, Any],
    *,
    ref: str,
    at: datetime,
) -> PostMortem:
    """A draft post-mortem for a resolved alert: its title, severity, incident window, a
    timeline of when it fired and resolved, and a link to where it came from."""
    labels = _mapping(alert, "labels")
    annotations = _mapping(alert, "annotations")
    started = _instant(alert.get("startsAt"))
    if started is None:
        raise ValueError("the alert has no startsAt")
    ended = _instant(alert.get("endsAt"))
    name = str(labels.get("alertname") or "Alert")
    title = str(annotations.get("summary") or name).strip() or name
    description = str(annotations.get("description") or "").strip()
    shown_labels = ", ".join(f"`{k}={v}`" for k, v in sorted(labels.items()))
    summary = "\n\n".join(
        part
        for part in (
            f"Drafted from the resolved Alertmanager alert **{name}**.",
            description,
            f"Labels: {shown_labels}" if shown_labels else "",
        )
        if part
    )
    postmortem = postmortems.create_postmortem(
        session,
        portal=portal,
        team=team,
        actor=None,
        data=PostMortemIn(
            title=title[:200],
            severity=severity_of(labels),
            incident_started_at=started,
            incident_ended_at=ended,
            summary=summary,
        ),
        source=ALERT_SOURCE,
        source_ref=ref,
        now=at,
    )
    postmortems.add_timeline_entry(
        session,
        postmortem=postmortem,
        actor=None,
        data=TimelineEntryIn(occurred_at=started, text=f"Alert {name} fired."),
    )
    if ended is not None:
        postmortems.add_timeline_entry(
            session,
            postmortem=postmortem,
            actor=None,
            data=TimelineEntryIn(occurred_at=ended, text=f"Alert {name} resolved."),
        )
    source = alert.get("generatorURL")
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        try:
            link = LinkIn(title=f"Alert source: {name}"[:200], url=source)
        except ValidationError:
            link = None  # an unusable address is left out; the draft is still worth having
        if link is not None:
            postmortems.add_link(session, postmortem=postmortem, actor=None, data=link)
    events.emit_postmortem(
        session,
        portal=portal,
        team=team,
        name=events.DRAFTED_FROM_ALERT,
        postmortem=postmortem,
        at=at,
    )
    return postmortem
