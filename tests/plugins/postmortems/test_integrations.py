"""GitHub issues and Alertmanager alerts arriving through core's inbound webhooks: signed
requests to /api/v1/hooks/..., stored by core, then handed to the plugin by core's
processing job."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.events.models import StoredEvent
from opsyard.inbound import service as inbound
from opsyard.inbound.models import ReceivedWebhook
from opsyard.inbound.process import process_pending
from opsyard_postmortems import events, integrations
from opsyard_postmortems.models import DONE, OPEN, PostMortem
from tests.conftest import World
from tests.plugins.postmortems import test_escalation as shared

ISSUE_URL = "https://github.com/acme/checkout/issues/42"


def _integration(world: World, provider: str, team: str = "alpha") -> tuple[str, str]:
    """A team's inbound integration, made through core's service: its id and secret."""
    with session_scope(world.ctx.sessions) as session:
        made, secret = inbound.create_integration(
            session,
            team=shared.team_of(session, world, team),
            provider=provider,
            name=f"our {provider}",
            actor=None,
        )
        return made.public_id, secret


def _process(world: World) -> list[bool]:
    """Run core's inbound processing; whether this plugin acted on each stored delivery."""
    process_pending(world.ctx, at=utcnow())
    with world.ctx.sessions() as session:
        rows = session.scalars(select(ReceivedWebhook).order_by(ReceivedWebhook.id))
        return ["postmortems" in row.handled_by for row in rows]


# -- GitHub ---------------------------------------------------------------------------------


def issue_closed(reason: str, *, action: str = "closed", number: int = 42) -> dict[str, Any]:
    """An ``issues`` event as GitHub sends it (trimmed to the fields that matter)."""
    return {
        "action": action,
        "issue": {
            "number": number,
            "title": "Add a canary stage to the checkout pipeline",
            "html_url": f"https://github.com/Acme/Checkout/issues/{number}",
            "state": "closed" if action == "closed" else "open",
            "state_reason": reason,
            "closed_at": "2026-11-20T10:00:00Z",
        },
        "repository": {"id": 1296269, "full_name": "Acme/Checkout", "private": True},
        "sender": {"login": "octocat", "type": "User"},
    }


def post_github(
    client: TestClient, public_id: str, secret: str, payload: dict[str, Any]
) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/api/v1/hooks/github/{public_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={digest}",
        },
    )
    assert response.status_code == 202, response.text
    answered: dict[str, Any] = response.json()
    return answered


def _linked_items(world: World) -> dict[str, int]:
    """Two alpha items linked to acme/checkout#42, one linked elsewhere, and a beta item
    linked to the same issue (another team's integration must not reach it)."""
    with session_scope(world.ctx.sessions) as session:
        postmortem = shared.add_postmortem(session, world)
        beta = shared.add_postmortem(session, world, "beta")
        return {
            "linked": shared.add_item(session, world, postmortem, tracker_url=ISSUE_URL).id,
            "also": shared.add_item(
                session, world, postmortem, title="Document it", tracker_url=ISSUE_URL + "/"
            ).id,
            "other": shared.add_item(
                session,
                world,
                postmortem,
                title="Another issue",
                tracker_url="https://github.com/acme/checkout/issues/43",
            ).id,
            "beta": shared.add_item(
                session, world, beta, owner="carol", title="Beta", tracker_url=ISSUE_URL
            ).id,
        }


def test_an_issue_closed_as_completed_marks_the_linked_items_done(
    pm_world: World, client: TestClient
) -> None:
    ctx = pm_world.ctx
    ids = _linked_items(pm_world)
    public_id, secret = _integration(pm_world, "github")
    assert post_github(client, public_id, secret, issue_closed("completed")) == {
        "accepted": True,
        "duplicate": False,
    }
    assert _process(pm_world) == [True]
    for name in ("linked", "also"):
        item = shared.item_state(ctx, ids[name])
        assert item.status == DONE
        assert item.evidence_url == "https://github.com/Acme/Checkout/issues/42"
        assert item.evidence_note is not None and "Acme/Checkout#42" in item.evidence_note
        assert item.next_action_at is None
        assert shared.history(ctx, ids[name])[-1] == "done"
    for name in ("other", "beta"):
        assert shared.item_state(ctx, ids[name]).status == OPEN
    assert shared.event_names(ctx) == [events.COMPLETED, events.COMPLETED]

    # GitHub redelivering it (a new delivery id) changes nothing: the items are done.
    post_github(client, public_id, secret, issue_closed("completed"))
    assert _process(pm_world) == [True, False]
    assert shared.history(ctx, ids["linked"]) == ["created", "done"]


def test_an_issue_closed_as_not_planned_asks_the_owner_to_decide(
    pm_world: World, client: TestClient
) -> None:
    ctx = pm_world.ctx
    ids = _linked_items(pm_world)
    public_id, secret = _integration(pm_world, "github")
    post_github(client, public_id, secret, issue_closed("not_planned"))
    assert _process(pm_world) == [True]
    item = shared.item_state(ctx, ids["linked"])
    assert (item.status, item.decision_needed) == (OPEN, True)
    assert shared.history(ctx, ids["linked"])[-1] == "decision_needed"
    post_github(client, public_id, secret, issue_closed("not_planned"))
    assert _process(pm_world) == [True, False]
    assert shared.history(ctx, ids["linked"]).count("decision_needed") == 1


def test_other_issue_events_and_unlinked_issues_are_left_alone(
    pm_world: World, client: TestClient
) -> None:
    ids = _linked_items(pm_world)
    public_id, secret = _integration(pm_world, "github")
    post_github(client, public_id, secret, issue_closed("reopened", action="reopened"))
    post_github(client, public_id, secret, issue_closed("completed", number=99))
    post_github(client, public_id, secret, issue_closed("completed", action="edited"))
    assert _process(pm_world) == [False, False, False]
    assert {shared.item_state(pm_world.ctx, i).status for i in ids.values()} == {OPEN}


# -- Alertmanager ---------------------------------------------------------------------------


def alert(status: str, *, fingerprint: str | None = "a1b2c3d4e5f60718", **labels: str) -> Any:
    found: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": "CheckoutLatency", "service": "checkout", **labels},
        "annotations": {
            "summary": "Checkout p99 latency above 2s",
            "description": "p99 was 4.1s for 10 minutes.",
        },
        "startsAt": "2026-11-20T09:12:30.123456789Z",
        "endsAt": "2026-11-20T09:58:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=checkout_p99",
    }
    if fingerprint is not None:
        found["fingerprint"] = fingerprint
    return found


def notification(*alerts: Any) -> dict[str, Any]:
    """A webhook_config notification (payload version 4)."""
    resolved = all(a["status"] == "resolved" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{service="checkout"}',
        "truncatedAlerts": 0,
        "status": "resolved" if resolved else "firing",
        "receiver": "opsyard",
        "groupLabels": {"service": "checkout"},
        "commonLabels": {"service": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


def post_alertmanager(
    client: TestClient, public_id: str, secret: str, payload: dict[str, Any]
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/hooks/alertmanager/{public_id}",
        content=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 202, response.text
    answered: dict[str, Any] = response.json()
    return answered


def _postmortems(world: World) -> list[PostMortem]:
    with world.ctx.sessions() as session:
        return list(session.scalars(select(PostMortem).order_by(PostMortem.id)))


def test_a_resolved_alert_opens_one_draft_however_often_it_arrives(
    pm_world: World, client: TestClient
) -> None:
    ctx = pm_world.ctx
    shared.set_rules(pm_world, drafts_from_alerts=True)
    public_id, secret = _integration(pm_world, "alertmanager")
    firing = alert("firing", fingerprint="0f0f0f0f0f0f0f0f", alertname="DiskFull")
    resolved = notification(alert("resolved", severity="critical"), firing)
    post_alertmanager(client, public_id, secret, resolved)
    # The same notification again (stored once by core) and the alert again in another
    # group notification (a new delivery): still one draft.
    assert post_alertmanager(client, public_id, secret, resolved)["duplicate"] is True
    post_alertmanager(client, public_id, secret, notification(alert("resolved")))
    assert _process(pm_world) == [True, False]

    [draft] = _postmortems(pm_world)
    assert (draft.title, draft.severity, draft.status) == (
        "Checkout p99 latency above 2s",
        "sev1",
        "draft",
    )
    # One incident of the alert: its fingerprint and when this firing started.
    assert (draft.source, draft.source_ref) == (
        "alertmanager",
        "a1b2c3d4e5f60718@2026-11-20T09:12:30.123456789Z",
    )
    assert draft.incident_started_at == datetime(2026, 11, 20, 9, 12, 30, 123456, tzinfo=UTC)
    assert draft.incident_ended_at == datetime(2026, 11, 20, 9, 58, tzinfo=UTC)
    assert "p99 was 4.1s for 10 minutes." in draft.summary
    assert [(e.occurred_at.hour, e.occurred_at.minute, e.text) for e in draft.timeline] == [
        (9, 12, "Alert CheckoutLatency fired."),
        (9, 58, "Alert CheckoutLatency resolved."),
    ]
    assert [link.url for link in draft.links] == [
        "http://prometheus.example:9090/graph?g0.expr=checkout_p99"
    ]
    with ctx.sessions() as session:
        drafted = session.scalars(
            select(StoredEvent).where(StoredEvent.name == events.DRAFTED_FROM_ALERT)
        ).all()
    assert [(e.payload["postmortem"], e.payload["severity"]) for e in drafted] == [(1, "sev1")]


def test_drafts_from_alerts_are_off_by_default(pm_world: World, client: TestClient) -> None:
    public_id, secret = _integration(pm_world, "alertmanager")
    post_alertmanager(client, public_id, secret, notification(alert("resolved")))
    assert _process(pm_world) == [False]
    assert _postmortems(pm_world) == []


def test_a_firing_alert_opens_nothing(pm_world: World, client: TestClient) -> None:
    shared.set_rules(pm_world, drafts_from_alerts=True)
    public_id, secret = _integration(pm_world, "alertmanager")
    post_alertmanager(client, public_id, secret, notification(alert("firing")))
    assert _process(pm_world) == [False]
    assert _postmortems(pm_world) == []


def test_severity_and_identity_of_an_alert() -> None:
    assert [
        integrations.severity_of({"severity": label})
        for label in ("critical", "error", "HIGH", "warning", "info", "page")
    ] == ["sev1", "sev2", "sev2", "sev3", "sev4", "sev4"]
    assert integrations.severity_of({}) == "sev4"
    # Without a fingerprint, the labels identify the alert whatever their order.
    first = integrations.alert_ref({"labels": {"a": "1", "b": "2"}})
    assert first == integrations.alert_ref({"labels": {"b": "2", "a": "1"}})
    assert first != integrations.alert_ref({"labels": {"a": "1", "b": "3"}})
    assert first.startswith("labels:")
    assert integrations.alert_ref({"fingerprint": "c6eadffa33fcdf37"}) == "c6eadffa33fcdf37"
    # The same alert firing again later is another incident, with a draft of its own.
    once = {"fingerprint": "c6eadffa33fcdf37", "startsAt": "2026-11-20T09:12:30Z"}
    again = {"fingerprint": "c6eadffa33fcdf37", "startsAt": "2026-12-04T17:00:00Z"}
    assert integrations.alert_ref(once) == "c6eadffa33fcdf37@2026-11-20T09:12:30Z"
    assert integrations.alert_ref(once) != integrations.alert_ref(again)
