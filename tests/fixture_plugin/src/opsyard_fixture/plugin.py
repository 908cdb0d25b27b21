"""A plugin that implements every hook, for opsyard's own tests.

It is a separate distribution declaring the ``opsyard.plugins`` entry point, installed the
way a third-party plugin would be. It records what core handed it in ``RECEIVED`` so tests
can check that each hook was called with what its documentation promises.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.api.deps import DbSession, TeamAccess, TeamMember
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.errors import Category, ErrorCode, OpsyardError
from opsyard.extension import (
    Event,
    EventType,
    InboundDelivery,
    JobContext,
    JobSpec,
    NavItem,
    PluginInfo,
    Widget,
)
from opsyard.hookspecs import hookimpl
from opsyard.roles import Role
from opsyard.teams.models import Team
from opsyard_fixture.models import FixtureNote

RECEIVED: dict[str, list[Any]] = defaultdict(list)

NOTE_TOO_LONG = ErrorCode(
    "fixture.note_too_long",
    Category.USER_FIXABLE,
    422,
    "Note too long",
    "Keep notes under 200 characters.",
)


class NoteCreated(BaseModel):
    note_id: int
    text: str


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


api = APIRouter()


@api.get("/notes")
def list_notes(access: TeamAccess, session: DbSession) -> list[dict[str, Any]]:
    query = select(FixtureNote).where(FixtureNote.team_id == access.team.id)
    return [{"id": n.id, "text": n.text} for n in session.scalars(query)]


@api.post("/notes", status_code=status.HTTP_201_CREATED)
def add_note(body: NoteIn, access: TeamMember, session: DbSession) -> dict[str, Any]:
    if len(body.text) > 200:
        raise OpsyardError(NOTE_TOO_LONG)
    note = FixtureNote(team_id=access.team.id, text=body.text)
    session.add(note)
    session.flush()
    return {"id": note.id, "text": note.text}


@api.get("/boom")
def boom(access: TeamAccess) -> None:
    raise RuntimeError("secret internal detail that must never reach a client")


web = APIRouter()


@web.get("/", response_class=HTMLResponse)
def notes_page(request: Request, access: TeamAccess, session: DbSession) -> HTMLResponse:
    from opsyard_web.rendering import render

    query = select(FixtureNote).where(FixtureNote.team_id == access.team.id)
    return render(request, "fixture/notes.html", {"notes": list(session.scalars(query))})


@hookimpl
def plugin_info() -> PluginInfo:
    return PluginInfo(title="Fixture", description="Notes, for testing every hook.")


@hookimpl
def api_router() -> APIRouter:
    return api


@hookimpl
def web_router() -> APIRouter:
    return web


@hookimpl
def navigation_items(team: Team, role: Role) -> list[NavItem]:
    RECEIVED["navigation_items"].append((team.slug, role))
    return [NavItem("Notes"), NavItem("Note admin", path="admin", min_role=Role.OWNER)]


@hookimpl
def dashboard_widgets(session: Session, team: Team, user: User) -> Any:
    count = len(list(session.scalars(select(FixtureNote).where(FixtureNote.team_id == team.id))))
    # Returned as a callable to exercise core's resolution of deferred results.
    return lambda: [Widget(title="Notes", html=f"<p>{count} notes</p>")]


@hookimpl
def alembic_version_location() -> str:
    return str(Path(__file__).parent / "migrations")


def _count_notes(context: JobContext) -> None:
    RECEIVED["job"].append(context)


# Jobs for tests/core/jobs. Each leaves a JSON line per call in the folder named by
# OPSYARD_FIXTURE_JOB_DIR, so a test sees what ran inside a worker subprocess too.
JOB_DIR_VARIABLE = "OPSYARD_FIXTURE_JOB_DIR"
RELEASE_FILE = "release"
# Yearly, so a scheduler never runs them during a test: tests queue them or run them by hand.
_BY_HAND = "0 0 1 1 *"
# The scheduler tests and bench/scheduling_delay.py set this to get a job every N seconds.
_TICK_SECONDS = int(os.environ.get("OPSYARD_FIXTURE_TICK_SECONDS", "0") or 0)


def _trace(name: str, context: JobContext, **extra: Any) -> None:
    RECEIVED[name].append(context)
    folder = os.environ.get(JOB_DIR_VARIABLE)
    if not folder:
        return
    line = {
        "at": context.at.isoformat(),
        "team": context.team_slug,
        "location": context.location,
        "pid": os.getpid(),
        **extra,
    }
    with (Path(folder) / f"{name}.jsonl").open("a") as trace:
        trace.write(json.dumps(line) + "\n")


def _record(context: JobContext) -> None:
    _trace("fixture.record", context)


def _per_location(context: JobContext) -> None:
    _trace("fixture.per_location", context)


def _tick(context: JobContext) -> None:
    _trace("fixture.tick", context)


def _wait_for_release(context: JobContext) -> None:
    """Blocks until the test creates the release file, so the test controls the timing."""
    _trace("fixture.wait_for_release", context, phase="started")
    release = Path(os.environ.get(JOB_DIR_VARIABLE, ".")) / RELEASE_FILE
    while not release.exists():
        time.sleep(0.05)
    _trace("fixture.wait_for_release", context, phase="done")


@hookimpl
def scheduled_jobs() -> list[JobSpec]:
    return [
        JobSpec(name="fixture.count_notes", run=_count_notes, interval_seconds=300),
        JobSpec(name="fixture.record", run=_record, cron=_BY_HAND),
        JobSpec(name="fixture.per_location", run=_per_location, cron=_BY_HAND, per_location=True),
        JobSpec(
            name="fixture.wait_for_release",
            run=_wait_for_release,
            cron=_BY_HAND,
            time_limit_seconds=3,
        ),
        JobSpec(
            name="fixture.tick",
            run=_tick,
            interval_seconds=_TICK_SECONDS or None,
            cron=None if _TICK_SECONDS else _BY_HAND,
        ),
    ]


@hookimpl
def event_types() -> list[EventType]:
    return [EventType("fixture.note.created", NoteCreated, "A note was added.")]


@hookimpl
def handle_event(event: Event, portal: PortalContext) -> None:
    RECEIVED["handle_event"].append(event)
    RECEIVED["handle_event_portal"].append(portal)


@hookimpl
def handle_inbound_webhook(delivery: InboundDelivery, portal: PortalContext) -> bool | None:
    RECEIVED["handle_inbound_webhook"].append(delivery)
    return delivery.provider == "github"


@click.group(name="fixture")
def fixture_cli() -> None:
    """Fixture plugin commands."""


@fixture_cli.command(name="hello")
@click.argument("who", default="world")
def hello(who: str) -> None:
    """Say hello."""
    click.echo(f"hello {who}")


@hookimpl
def cli_commands() -> list[click.Command]:
    return [fixture_cli]


@hookimpl
def demo_data(session: Session, team: Team, users: dict[str, User], portal: PortalContext) -> None:
    RECEIVED["demo_data_portal"].append(portal)
    session.add(FixtureNote(team_id=team.id, text=f"Demo note by {users['owner'].email}"))


@hookimpl
def error_codes() -> list[ErrorCode]:
    return [NOTE_TOO_LONG]
