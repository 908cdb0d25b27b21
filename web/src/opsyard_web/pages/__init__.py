"""The shell's pages, one module per area."""

from __future__ import annotations

from fastapi import APIRouter

from opsyard_web.pages import (
    account,
    audit,
    auth,
    calendar,
    channels,
    deliveries,
    events,
    home,
    inbound,
    integrations,
    jobs,
    members,
    notifications,
    oncall,
    plugin_switches,
    team,
    team_settings,
    webhooks,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth,
    home,
    team,
    team_settings,
    members,
    calendar,
    plugin_switches,
    audit,
    account,
    oncall,
    integrations,
    channels,
    webhooks,
    deliveries,
    inbound,
    notifications,
    events,
    jobs,
):
    router.include_router(module.router)
