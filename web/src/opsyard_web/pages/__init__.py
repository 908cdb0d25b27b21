"""The shell's pages, one module per area."""

from __future__ import annotations

from fastapi import APIRouter

from opsyard_web.pages import (
    account,
    audit,
    auth,
    home,
    members,
    plugin_switches,
    team,
    team_settings,
)

router = APIRouter(include_in_schema=False)
for module in (auth, home, team, team_settings, members, plugin_switches, audit, account):
    router.include_router(module.router)
