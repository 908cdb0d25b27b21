"""CSRF protection: a signed token in a cookie that every unsafe request repeats in a header.

starlette-csrf does the check (double submit: the ``x-csrftoken`` header must carry the same
signed token as the ``opsyard_csrf`` cookie). Three things are added here:

- the token is decided *before* the page is rendered, so the page can embed it
  (``<body hx-headers>``) even on the very first visit, and the cookie set on the response
  is that same token (the library would mint a different one after rendering);
- the check applies only to requests carrying the session cookie, so API clients that send
  a Bearer token and no cookie are untouched, and always to ``POST /login`` (login CSRF);
- a failure is answered like every other opsyard error (``auth.csrf_failed``), as a page or
  as problem+json, instead of the library's plain text.
"""

from __future__ import annotations

import http.cookies
import re
from collections.abc import Callable

from itsdangerous import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf.middleware import CSRFMiddleware

from opsyard import errors
from opsyard.app import SESSION_COOKIE
from opsyard.errors import OpsyardError

CSRF_COOKIE = "opsyard_csrf"
CSRF_HEADER = "x-csrftoken"
_CSRF_STATE = "csrf_token"
_SET_COOKIE_STATE = "csrf_set_cookie"

# Anonymous requests carry no session cookie, yet a forged login would sign the victim in as
# the attacker; so posting the login form is checked whether or not a session exists.
# (starlette-csrf's own `required_urls` would check GET /login too, before any cookie exists.)
ALWAYS_CHECKED = re.compile(r"^/login/?$")


class PortalCSRFMiddleware(CSRFMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        *,
        secure: bool,
        on_failure: Callable[[Request, OpsyardError], Response],
    ) -> None:
        self.on_failure = on_failure
        super().__init__(
            app,
            secret,
            sensitive_cookies={SESSION_COOKIE},
            cookie_name=CSRF_COOKIE,
            header_name=CSRF_HEADER,
            cookie_secure=secure,
            # Pages carry the token themselves, so no script ever needs to read the cookie.
            cookie_httponly=True,
            cookie_samesite="lax",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cookie = Request(scope).cookies.get(self.cookie_name)
            valid = cookie if cookie and self._is_genuine(cookie) else None
            state = scope.setdefault("state", {})
            state[_CSRF_STATE] = valid or self._generate_csrf_token()
            state[_SET_COOKIE_STATE] = valid is None
            request = Request(scope)
            if self._always_checked(request) and not await self._submitted_matches(request):
                await self._get_error_response(request)(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def send(self, message: Message, send: Send, scope: Scope) -> None:
        state = scope.get("state", {})
        if message["type"] == "http.response.start" and state.get(_SET_COOKIE_STATE):
            cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            cookie[self.cookie_name] = state[_CSRF_STATE]
            morsel = cookie[self.cookie_name]
            morsel["path"] = self.cookie_path
            morsel["secure"] = self.cookie_secure
            morsel["httponly"] = self.cookie_httponly
            morsel["samesite"] = self.cookie_samesite
            MutableHeaders(scope=message).append("set-cookie", cookie.output(header="").strip())
        await send(message)

    def _always_checked(self, request: Request) -> bool:
        return request.method not in self.safe_methods and bool(
            ALWAYS_CHECKED.match(request.url.path)
        )

    async def _submitted_matches(self, request: Request) -> bool:
        cookie = request.cookies.get(self.cookie_name)
        submitted = await self._get_submitted_csrf_token(request)
        return bool(cookie and submitted and self._csrf_tokens_match(cookie, submitted))

    def _is_genuine(self, token: str) -> bool:
        try:
            self.serializer.loads(token)
        except BadSignature:
            return False
        return True

    def _get_error_response(self, request: Request) -> Response:
        return self.on_failure(
            request,
            OpsyardError(
                errors.CSRF_FAILED,
                "The form's security token was missing or did not match this browser's.",
            ),
        )


def csrf_token(request: Request) -> str:
    """The token a page embeds so htmx can send it back in the header."""
    token: str = request.scope.get("state", {}).get(_CSRF_STATE, "")
    return token
