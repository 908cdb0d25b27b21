"""Demo data for ``opsyard demo``: people in every role, two teams, every plugin switched on.

Loading is idempotent: what exists is kept, what is missing is added. A plugin's own demo
data is added once per plugin (an audit entry records it), so installing a new plugin and
running the demo again adds that plugin's data without duplicating anyone else's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsyard.audit import service as audit
from opsyard.audit.models import AuditEntry
from opsyard.auth import users as user_service
from opsyard.auth.models import User
from opsyard.context import PortalContext
from opsyard.db.base import utcnow
from opsyard.oncall import service as oncall_service
from opsyard.roles import Role
from opsyard.teams import service as team_service
from opsyard.teams.models import Team

log = logging.getLogger(__name__)

# Published on purpose: the demo prints it so a newcomer can log in.
DEMO_PASSWORD = "opsyard-demo"  # noqa: S105
# The team every installed plugin is switched on for, with its demo data.
SHOWCASE_TEAM = "platform"
PLUGIN_DATA_LOADED = "demo.plugin_data_loaded"


@dataclass(frozen=True)
class DemoUser:
    key: str
    email: str
    name: str
    is_admin: bool = False


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "admin@example.com", "Ada Admin", is_admin=True),
    DemoUser("owner", "ana@example.com", "Ana Owner"),
    DemoUser("member", "ben@example.com", "Ben Member"),
    DemoUser("viewer", "vic@example.com", "Vic Viewer"),
)


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    # user key -> role
    members: tuple[tuple[str, Role], ...]


DEMO_TEAMS: tuple[DemoTeam, ...] = (
    DemoTeam(
        SHOWCASE_TEAM,
        "Platform",
        (("owner", Role.OWNER), ("member", Role.MEMBER), ("viewer", Role.VIEWER)),
    ),
    # No plugins here: a team that has switched nothing on sees none of them.
    DemoTeam("payments", "Payments", (("owner", Role.OWNER), ("member", Role.MEMBER))),
)


@dataclass
class DemoSummary:
    """What a load did, and the accounts to print for a newcomer."""

    created_users: list[str] = field(default_factory=list)
    created_teams: list[str] = field(default_factory=list)
    plugins_enabled: list[str] = field(default_factory=list)
    plugin_data_loaded: list[str] = field(default_factory=list)
    plugin_failures: dict[str, str] = field(default_factory=dict)
    password: str = DEMO_PASSWORD

    @property
    def changed(self) -> bool:
        return bool(
            self.created_users
            or self.created_teams
            or self.plugins_enabled
            or self.plugin_data_loaded
        )

    @staticmethod
    def accounts() -> list[tuple[str, str]]:
        """(email, what they can do) for every demo user."""
        described = []
        for person in DEMO_USERS:
            roles = [
                f"{role.value} of {team.slug}"
                for team in DEMO_TEAMS
                for key, role in team.members
                if key == person.key
            ]
            what = ["site admin"] if person.is_admin else []
            described.append((person.email, ", ".join(what + roles)))
        return described


def load_demo_data(session: Session, portal: PortalContext) -> DemoSummary:
    """Add the demo users, teams and plugin data that are not there yet."""
    registry = portal.registry
    summary = DemoSummary()
    people = {person.key: _ensure_user(session, person, summary) for person in DEMO_USERS}
    teams = {team.slug: _ensure_team(session, team, people, summary) for team in DEMO_TEAMS}
    showcase = teams[SHOWCASE_TEAM]
    role_users = {"owner": people["owner"], "member": people["member"], "viewer": people["viewer"]}
    _ensure_rotation(session, showcase, [people["owner"], people["member"]])
    for plugin in registry.names:
        if team_service.enable_plugin(session, team=showcase, plugin=plugin, actor=None):
            summary.plugins_enabled.append(plugin)
        if not _plugin_data_loaded(session, showcase, plugin):
            _load_plugin_data(session, portal, plugin, showcase, role_users, summary)
    return summary


def _ensure_user(session: Session, person: DemoUser, summary: DemoSummary) -> User:
    user = user_service.get_by_email(session, person.email)
    if user is not None:
        return user
    summary.created_users.append(person.email)
    return user_service.create_user(
        session,
        email=person.email,
        name=person.name,
        password=DEMO_PASSWORD,
        is_admin=person.is_admin,
        actor=None,
    )


def _ensure_team(
    session: Session, spec: DemoTeam, people: dict[str, User], summary: DemoSummary
) -> Team:
    team = team_service.get_by_slug(session, spec.slug)
    if team is None:
        team = team_service.create_team(
            session, slug=spec.slug, name=spec.name, owner=None, actor=None
        )
        summary.created_teams.append(spec.slug)
    for key, role in spec.members:
        user = people[key]
        if team_service.membership(session, team=team, user=user) is None:
            team_service.add_member(session, team=team, user=user, role=role, actor=None)
    return team


def _ensure_rotation(session: Session, team: Team, members: list[User]) -> None:
    """A weekly on-call rotation, so the on-call page and paging have someone to name."""
    if oncall_service.list_rotations(session, team=team):
        return
    today = utcnow().date()
    oncall_service.create_rotation(
        session,
        team=team,
        name="Primary",
        timezone="UTC",
        handoff_time=time(9, 0),
        period="weekly",
        start_date=today - timedelta(days=today.weekday()),  # this week's Monday
        members=members,
        actor=None,
    )


def _plugin_data_loaded(session: Session, team: Team, plugin: str) -> bool:
    query = select(AuditEntry.id).where(
        AuditEntry.action == PLUGIN_DATA_LOADED,
        AuditEntry.team_id == team.id,
        AuditEntry.target == plugin,
    )
    return session.scalar(query.limit(1)) is not None


def _load_plugin_data(
    session: Session,
    portal: PortalContext,
    plugin: str,
    team: Team,
    role_users: dict[str, User],
    summary: DemoSummary,
) -> None:
    """Call the plugin's demo_data hook in a savepoint, so a failing plugin leaves no half
    of its data behind and the rest of the demo still loads."""
    registry = portal.registry
    implemented = any(
        impl.plugin_name == plugin for impl in registry.manager.hook.demo_data.get_hookimpls()
    )
    savepoint = session.begin_nested()
    try:
        answered = list(
            registry.call_each(
                "demo_data",
                plugins=[plugin],
                session=session,
                team=team,
                users=role_users,
                portal=portal,
            )
        )
        if implemented and not answered:
            # call_each logged the exception and skipped the plugin.
            raise RuntimeError("its demo_data hook raised; see the log")
        session.flush()
    except Exception as exc:
        savepoint.rollback()
        log.warning("demo data for plugin %s not loaded: %s", plugin, exc)
        summary.plugin_failures[plugin] = str(exc)
        return
    savepoint.commit()
    audit.record(session, actor=None, action=PLUGIN_DATA_LOADED, target=plugin, team_id=team.id)
    if implemented:
        summary.plugin_data_loaded.append(plugin)
