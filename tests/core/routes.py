"""Enumerates every route the app serves, for tests that must cover all of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

# Paths anyone may reach without signing in. Keep this list short and deliberate.
# Inbound webhooks (/api/v1/hooks) are public: the sender's signature is the authentication.
# /status/{team} is a team's status page, public only when the team switches it on.
PUBLIC_PREFIXES = ("/login", "/livez", "/readyz", "/static", "/api/v1/hooks", "/status/")

PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str

    @property
    def is_api(self) -> bool:
        return self.template.startswith("/api/")

    @property
    def is_team_scoped(self) -> bool:
        return "{team}" in self.template

    @property
    def changes_state(self) -> bool:
        return self.method in STATE_CHANGING

    @property
    def is_public(self) -> bool:
        return self.template.startswith(PUBLIC_PREFIXES)

    def url(self, team: str = "alpha", **values: str) -> str:
        defaults = {"team": team, "plugin": "fixture", "email": "bob@example.com"}
        defaults.update(values)
        return PARAM.sub(lambda m: defaults.get(m.group(1), "1"), self.template)


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path template) the app answers, mounts included as GET."""
    seen: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None:
            continue
        methods = route.methods or {"GET"}
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            key = (method, path)
            if key not in seen:
                seen.add(key)
                yield Endpoint(method, path)
