"""The team navigation: the shell's own pages plus what each enabled plugin contributes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from opsyard.extension import NavItem
from opsyard.plugins import PluginRegistry
from opsyard.roles import Role
from opsyard.teams import service as teams
from opsyard.teams.models import Team


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    plugin: str | None = None
    current: bool = False


def team_navigation(
    registry: PluginRegistry, session: Session, *, team: Team, role: Role, path: str
) -> list[NavLink]:
    """The links for `team` as seen by `role`, the one for `path` marked current.

    Items whose ``min_role`` the viewer lacks are left out here, in Python: hiding a link is
    a courtesy, the page behind it still checks the role itself.
    """
    base = f"/t/{team.slug}/"
    links = [NavLink("Overview", base)]
    enabled = teams.enabled_plugins(session, team)
    for plugin, items in registry.call_each(
        "navigation_items", plugins=enabled, team=team, role=role
    ):
        for item in items or []:
            if isinstance(item, NavItem) and role.allows(item.min_role):
                href = f"{base}{plugin}/{item.path.lstrip('/')}"
                links.append(NavLink(item.label, href, plugin=plugin))
    links.append(NavLink("On-call", f"{base}oncall"))
    links.append(NavLink("Integrations", f"{base}integrations"))
    links.append(NavLink("Settings", f"{base}settings"))
    if role.allows(Role.OWNER):
        links.append(NavLink("Audit log", f"{base}audit"))
    return mark_current(links, path, exact_only={base})


def mark_current(links: list[NavLink], path: str, *, exact_only: set[str]) -> list[NavLink]:
    """Mark the link whose address is the longest prefix of `path` (a plugin's sub-page keeps
    its entry highlighted); links in `exact_only` match only themselves."""

    def matches(link: NavLink) -> bool:
        if path == link.href:
            return True
        if link.href in exact_only:
            return False
        return path.startswith(link.href.rstrip("/") + "/")

    candidates = [link for link in links if matches(link)]
    if not candidates:
        return links
    best = max(candidates, key=lambda link: len(link.href))
    return [replace(link, current=True) if link is best else link for link in links]
