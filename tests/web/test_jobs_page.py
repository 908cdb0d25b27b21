"""The jobs page: the declared jobs and their recorded runs, for site admins only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from opsyard.auth import tokens
from opsyard.db.base import utcnow
from opsyard.db.engine import session_scope
from opsyard.jobs import service as jobs
from opsyard.jobs.catalogue import load_catalogue
from tests.conftest import World

PAGE = "/admin/jobs"


def _runs(world: World) -> None:
    """One run that succeeded and one the broker refused."""
    catalogue = load_catalogue(world.ctx.registry)
    jobs.run_now(
        world.ctx,
        catalogue=catalogue,
        name="core.events.dispatch",
        team=None,
        at=None,
        worker="web-test",
    )
    record = catalogue.get("fixture.record")
    assert record is not None
    with session_scope(world.ctx.sessions) as session:
        now = utcnow()
        queued = jobs.queue_run(
            session, target=jobs.Target(record), slot=now, due_at=now, queued_by="web-test"
        )
        assert queued is not None
        jobs.mark_publish_failed(session, run_id=queued.id, detail="broker refused the message")


def test_site_admins_see_the_jobs_and_their_runs(
    signed_in: Callable[[str], TestClient], world: World
) -> None:
    _runs(world)
    root = signed_in("root")
    page = root.get(PAGE)
    assert page.status_code == 200
    assert '<a href="/admin/jobs" aria-current="page">Jobs</a>' in page.text
    assert "Declared jobs" in page.text
    for name in ("core.webhooks.deliver", "core.notifications.send", "fixture.record"):
        assert f"<code>{name}</code>" in page.text
    assert "succeeded" in page.text
    assert "jobs.publish_failed" in page.text and "broker refused the message" in page.text

    only = root.get(PAGE, params={"job": "core.events.dispatch"}).text
    assert "Runs of core.events.dispatch" in only
    assert "broker refused" not in only
    assert '<option value="core.events.dispatch" selected>' in only
    assert (
        "No recorded runs of core.inbound.process."
        in root.get(PAGE, params={"job": "core.inbound.process"}).text
    )


def test_nobody_else_sees_the_jobs(
    signed_in: Callable[[str], TestClient], client: TestClient, world: World
) -> None:
    for who in ("alice", "bob"):
        browser = signed_in(who)
        assert browser.get(PAGE).status_code == 403
        assert 'href="/admin/jobs"' not in browser.get("/").text
    anonymous = client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/admin/jobs"
    # A site admin's token limited to one team carries no site-admin powers.
    with session_scope(world.ctx.sessions) as session:
        scoped = tokens.issue(
            session,
            user=session.merge(world.people["root"]),
            team=session.merge(world.teams["beta"]),
            expires_in_days=1,
            actor=None,
        ).plaintext
    response = client.get(PAGE, headers={"Authorization": f"Bearer {scoped}"})
    assert response.status_code == 403
