"""Demo data: post-mortems that show every state an action item can be in.

Everything goes through the service layer as of instants in the past, so the rows, history
and events are those real use would have left: one item done on time, one overdue, one
escalated, one deprioritized with its reason, one on track, and a full parking lot. The
escalation steps are taken by the sweep's own code (`escalation.take_due_steps`) as of now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.teams.models import Team
from opsyard_postmortems import escalation, items, parking_lot, postmortems
from opsyard_postmortems.models import ActionItem, PostMortem
from opsyard_postmortems.schemas import (
    ActionItemIn,
    IdeaIn,
    ItemDeprioritizeIn,
    ItemDoneIn,
    LinkIn,
    PostMortemIn,
    TimelineEntryIn,
)

CERTIFICATE_SUMMARY = """\
Card payments failed for 47 minutes after the payment provider rotated the client
certificate it expects from us. Our copy of the new certificate had been issued but never
deployed: the rotation was a manual step nobody owned.
"""
CERTIFICATE_FACTORS = """\
- Certificate rotation is a **manual** runbook step, done twice a year.
- The expiry alert fired in a channel nobody watches at weekends.
- The provider's announcement went to a former employee's mailbox.
"""
SEARCH_SUMMARY = """\
Search latency p99 rose from 180 ms to 2.4 s for 25 minutes while a full reindex ran during
business hours.
"""


def load(session: Session, *, portal: PortalContext, team: Team, users: dict[str, User]) -> None:
    """Add the demo post-mortems to `team`."""
    now = utcnow()
    owner, member = users["owner"], users["member"]
    _certificate_outage(session, portal=portal, team=team, owner=owner, member=member, now=now)
    _search_latency(session, portal=portal, team=team, owner=owner, member=member, now=now)
    postmortems.create_postmortem(
        session,
        portal=portal,
        team=team,
        actor=member,
        data=PostMortemIn(
            title="Stale prices shown after a cache deploy",
            severity="sev4",
            incident_started_at=now - timedelta(days=1, hours=3),
            incident_ended_at=now - timedelta(days=1, hours=2),
            summary="Still being written.",
            author_ids=[member.id],
        ),
        now=now - timedelta(hours=20),
    )
    escalation.take_due_steps(session, portal=portal, team=team, now=now)


def _item(
    session: Session,
    *,
    portal: PortalContext,
    postmortem: PostMortem,
    actor: User,
    title: str,
    owner: User,
    deadline: str,
    at: datetime,
    tracker_url: str | None = None,
) -> ActionItem:
    return items.add_item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=actor,
        data=ActionItemIn(
            title=title, owner_id=owner.id, deadline=deadline, tracker_url=tracker_url
        ),
        now=at,
    )


def _certificate_outage(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    owner: User,
    member: User,
    now: datetime,
) -> None:
    """Six weeks old and published: one item done on time, one escalated, one deprioritized."""
    written = now - timedelta(days=42)
    started = written - timedelta(days=2, hours=5)
    postmortem = postmortems.create_postmortem(
        session,
        portal=portal,
        team=team,
        actor=owner,
        data=PostMortemIn(
            title="Card payments failed after the provider rotated its client certificate",
            severity="sev2",
            incident_started_at=started,
            incident_ended_at=started + timedelta(minutes=47),
            summary=CERTIFICATE_SUMMARY,
            impact="About 1,900 checkouts failed; 310 customers retried successfully later.",
            contributing_factors=CERTIFICATE_FACTORS,
            lessons="A certificate that expires on a date is a deadline: it needs an owner.",
            author_ids=[owner.id],
        ),
        now=written,
    )
    for minutes, text in (
        (0, "Error rate on `POST /payments` rises to 100%."),
        (6, "On-call paged by the checkout synthetic check."),
        (31, "Provider support confirms the certificate rotation."),
        (47, "New certificate deployed; payments recover."),
    ):
        postmortems.add_timeline_entry(
            session,
            postmortem=postmortem,
            actor=owner,
            data=TimelineEntryIn(occurred_at=started + timedelta(minutes=minutes), text=text),
        )
    postmortems.add_link(
        session,
        postmortem=postmortem,
        actor=owner,
        data=LinkIn(title="Provider announcement", url="https://status.example.com/2026/rotation"),
    )
    on_time = _item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=owner,
        title="Alert on client certificates 30 days before they expire",
        owner=owner,
        deadline=(written + timedelta(days=10)).date().isoformat(),
        at=written,
    )
    _item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=owner,
        title="Automate certificate rotation, staging first",
        owner=member,
        deadline=(written + timedelta(days=12)).date().isoformat(),
        at=written,
        tracker_url="https://github.com/example/payments/issues/812",
    )
    runbook = _item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=owner,
        title="Write a runbook for rotating the certificate by hand",
        owner=member,
        deadline=(written + timedelta(days=7)).date().isoformat(),
        at=written,
    )
    items.complete_item(
        session,
        portal=portal,
        item=on_time,
        actor=owner,
        data=ItemDoneIn(
            evidence_url="https://github.com/example/alerts/pull/233",
            evidence_note="Alert rule merged and tested against a certificate expiring in 29 days.",
        ),
        now=written + timedelta(days=8),
    )
    items.deprioritize_item(
        session,
        portal=portal,
        item=runbook,
        actor=owner,
        data=ItemDeprioritizeIn(
            reason="Rotation is being automated; a runbook for the manual path would be "
            "obsolete within the quarter. Revisit if the automation slips.",
            revisit_on=(now + timedelta(days=45)).date(),
        ),
        now=written + timedelta(days=5),
    )
    for text in (
        "Subscribe a team alias, not a person, to provider announcements.",
        "Move the expiry alerts to the on-call channel.",
        "Inventory every certificate we present to a third party.",
        "Add the provider's sandbox to the staging synthetic checks.",
        "Game day: rotate a certificate in staging without the runbook.",
    ):
        parking_lot.add_idea(session, postmortem=postmortem, actor=owner, data=IdeaIn(text=text))
    postmortems.request_review(
        session, postmortem=postmortem, actor=owner, reviewer_id=member.id, now=written
    )
    postmortems.approve(session, postmortem=postmortem, actor=member, now=written)
    postmortems.publish(
        session, portal=portal, postmortem=postmortem, actor=owner, now=written + timedelta(hours=2)
    )


def _search_latency(
    session: Session,
    *,
    portal: PortalContext,
    team: Team,
    owner: User,
    member: User,
    now: datetime,
) -> None:
    """Ten days old and in review: one item overdue, one on track."""
    written = now - timedelta(days=10)
    started = written - timedelta(days=1)
    postmortem = postmortems.create_postmortem(
        session,
        portal=portal,
        team=team,
        actor=member,
        data=PostMortemIn(
            title="Search latency spike during a daytime reindex",
            severity="sev3",
            incident_started_at=started,
            incident_ended_at=started + timedelta(minutes=25),
            summary=SEARCH_SUMMARY,
            impact="Search felt broken for 25 minutes; no data was lost.",
            contributing_factors="- Reindexing is not throttled.\n- Nothing stops a daytime run.",
            lessons="Heavy maintenance needs a guard rail, not a reminder.",
            author_ids=[member.id],
        ),
        now=written,
    )
    _item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=member,
        title="Throttle reindex jobs to 20% of cluster capacity",
        owner=member,
        deadline=(written + timedelta(days=5)).date().isoformat(),
        at=written,
    )
    _item(
        session,
        portal=portal,
        postmortem=postmortem,
        actor=member,
        title="Refuse full reindexes during business hours",
        owner=owner,
        deadline="sprint+1",
        at=written,
    )
    parking_lot.add_idea(
        session,
        postmortem=postmortem,
        actor=member,
        data=IdeaIn(text="A search latency SLO with an error budget."),
    )
    postmortems.request_review(
        session, postmortem=postmortem, actor=member, reviewer_id=owner.id, now=written
    )
