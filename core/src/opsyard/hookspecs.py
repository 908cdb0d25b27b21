"""Every hook a plugin can implement.

A plugin is a module (or object) registered under the ``opsyard.plugins`` entry-point group;
its name is the entry point's name. It implements hooks with ``@hookimpl``::

    from opsyard.hookspecs import hookimpl

    @hookimpl
    def navigation_items(team, role):
        return [NavItem("Checks")]

Unless a hook says otherwise, every plugin's result is collected and core calls each plugin's
implementation on its own, so core knows which plugin a result came from. A hook may return
its value, a callable that returns it, or an awaitable; core resolves all three in one place
(``opsyard.plugins.resolve``). Hooks that take a ``team`` are only called for plugins the team
has enabled. docs/plugins.md documents each hook with an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from opsyard.auth.models import User
    from opsyard.context import PortalContext
    from opsyard.errors import ErrorCode
    from opsyard.extension import (
        Event,
        EventType,
        InboundDelivery,
        JobSpec,
        NavItem,
        PluginInfo,
        Widget,
    )
    from opsyard.roles import Role
    from opsyard.teams.models import Team

PROJECT = "opsyard"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Identity
# -------------------------------------------------------------------------


@hookspec
def plugin_info() -> PluginInfo:
    """Called when core lists plugins (CLI, API, team settings page).

    Return a ``PluginInfo`` with a human title and a one-line description. Without it, the
    plugin is shown by its entry-point name.
    """


# -------------------------------------------------------------------------
# HTTP: API and web routes, navigation, dashboard
# -------------------------------------------------------------------------


@hookspec
def api_router() -> APIRouter:
    """Called once when the app is built.

    Return a FastAPI ``APIRouter`` whose routes core mounts under
    ``/api/v1/teams/{team}/{plugin}``. Core authenticates every request, answers 404 when the
    caller is not in the team or the team has not enabled the plugin, and gives the handler
    the team through the ``opsyard.api.deps.TeamAccess`` dependency. Write routes must still
    ask for the role they need (``require_team_role(Role.MEMBER)``).
    """


@hookspec
def web_router() -> APIRouter:
    """Called once when the app is built.

    Return an ``APIRouter`` of HTML pages that core mounts under ``/t/{team}/{plugin}``, with
    the same authorisation as ``api_router`` (anonymous visitors are sent to the login page).
    Templates are found by convention in the plugin package's ``templates/`` folder and are
    addressed as ``"<plugin>/<file>"``; static files in ``static/`` are served at
    ``/static/plugins/<plugin>/``.
    """


@hookspec
def navigation_items(team: Team, role: Role) -> list[NavItem]:
    """Called for each page of a team that has enabled the plugin.

    ``team`` is the team being viewed, ``role`` the viewer's role in it. Return the plugin's
    entries for the team navigation; an item whose ``min_role`` the viewer lacks is hidden.
    """


@hookspec
def dashboard_widgets(session: Session, team: Team, user: User) -> list[Widget]:
    """Called when a team's dashboard is rendered, for plugins the team has enabled.

    ``session`` is a read-only database session, ``team`` the team, ``user`` the viewer.
    Return widgets to show, ordered by ``Widget.order``.
    """


# -------------------------------------------------------------------------
# Storage
# -------------------------------------------------------------------------


@hookspec
def alembic_version_location() -> str:
    """Called by ``opsyard db migrate`` and ``opsyard db status``.

    Return the absolute path of the folder holding the plugin's Alembic revisions. The
    plugin's first revision sets ``branch_labels = ("<plugin>",)`` and
    ``depends_on = "core"``; its tables are prefixed with the plugin's name.
    """


# -------------------------------------------------------------------------
# Jobs, events and webhooks
# -------------------------------------------------------------------------


@hookspec
def scheduled_jobs() -> list[JobSpec]:
    """Called when the scheduler starts, by workers, and by ``opsyard jobs list``.

    Return the plugin's jobs (``JobSpec``), each named ``<plugin>.<something>``. A job runs
    once per slot of its schedule: every ``interval_seconds`` (slots aligned to the Unix
    epoch) or per a five-field ``cron`` expression in UTC, started up to ``jitter_seconds``
    late. It receives a ``JobContext`` whose ``at`` is the slot it runs as of (``opsyard jobs
    run --at`` replays any instant). ``per_team=True`` runs it once per team that enabled the
    plugin (``context.team_slug``). ``per_location=True`` runs it once per location per slot
    (the locations are ``OPSYARD_LOCATIONS``), each run on the queue ``loc.<location>`` that
    only that location's workers consume (``context.location``); otherwise it goes to
    ``queue``. A run never overlaps another run of the same job for the same team and
    location, is stopped at ``time_limit_seconds``, and after downtime only the latest missed
    slot runs. A run may be delivered twice if a worker dies mid-run, so make jobs idempotent.
    Exceptions are recorded on the run (an ``OpsyardError`` with its code) and never stop the
    scheduler; retry failed work through rows in your tables, not by raising.
    """


@hookspec
def event_types() -> list[EventType]:
    """Called once when the registry is built.

    Return the event types the plugin emits, each with a pydantic model for its payload.
    Names start with the plugin's name (``postmortems.action_item.escalated``).
    """


@hookspec
def handle_event(event: Event, portal: PortalContext) -> None:
    """Called for every event emitted by any plugin, after the change that caused it was
    committed.

    ``event`` carries its name, team and payload; ``portal`` gives the settings and
    database sessions to act with (open one with ``portal.sessions()``). Return nothing; an
    exception is logged and does not stop other handlers.
    """


@hookspec
def handle_inbound_webhook(delivery: InboundDelivery, portal: PortalContext) -> bool | None:
    """Called for every verified inbound webhook addressed to a team that enabled the plugin.

    ``delivery`` carries the provider (``github``, ``alertmanager``, ``standard``), the
    team, the delivery id and the parsed payload; ``portal`` gives the settings and database
    sessions to act with. Return True if the plugin acted on it, None or False if it was not
    of interest.
    """


# -------------------------------------------------------------------------
# Command line
# -------------------------------------------------------------------------


@hookspec
def cli_commands() -> list[click.Command]:
    """Called when the ``opsyard`` command starts.

    Return click commands or groups; each is added at the top level (name a group after
    the plugin, e.g. ``opsyard postmortems ...``).
    """


# -------------------------------------------------------------------------
# Demo data and errors
# -------------------------------------------------------------------------


@hookspec
def demo_data(session: Session, team: Team, users: dict[str, User], portal: PortalContext) -> None:
    """Called by ``opsyard demo`` after the plugin is enabled for a demo team.

    ``session`` is the open transaction, ``team`` the demo team and ``users`` the demo users
    by role name (``owner``, ``member``, ``viewer``); ``portal`` gives the settings and the
    registry, for services that emit events. Add rows that show every state the plugin has;
    return nothing.
    """


@hookspec
def error_codes() -> list[ErrorCode]:
    """Called once when the registry is built.

    Return every ``ErrorCode`` the plugin raises. Codes start with the plugin's name;
    declaring one code twice with different meanings is an error at start-up.
    """


def hook_names() -> list[str]:
    """The names of all hooks above, for the documentation and coverage tests."""
    return sorted(
        name
        for name, value in globals().items()
        if callable(value) and hasattr(value, f"{PROJECT}_spec")
    )
