"""The one exception type opsyard raises on purpose, and the catalogue of its codes.

Every error a user or operator can see has a stable ``code`` and one of four categories that
tell the caller what to do about it:

- ``retryable``: try again later (a ``Retry-After`` may say when);
- ``user_fixable``: change the request;
- ``operator_fixable``: someone running the portal has to act;
- ``fatal``: nothing the caller can do; the reference id helps whoever investigates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    RETRYABLE = "retryable"
    USER_FIXABLE = "user_fixable"
    OPERATOR_FIXABLE = "operator_fixable"
    FATAL = "fatal"


@dataclass(frozen=True)
class ErrorCode:
    """A documented error: its stable code, category, HTTP status and what to do about it."""

    code: str
    category: Category
    status: int
    title: str
    remediation: str


@dataclass(frozen=True)
class FieldProblem:
    """One bad field of a request: where it is (a JSON pointer) and how to fix it."""

    pointer: str
    detail: str


class OpsyardError(Exception):
    """An error with a stable code and category, answered as problem+json by the API."""

    def __init__(
        self,
        error: ErrorCode,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        fields: list[FieldProblem] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or error.title)
        self.error = error
        self.detail = detail or error.title
        self.retry_after = retry_after
        self.fields = fields or []
        self.extra = extra or {}

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def category(self) -> Category:
        return self.error.category


@dataclass
class ErrorCatalogue:
    """All error codes known to this process: core's and every loaded plugin's."""

    codes: dict[str, ErrorCode] = field(default_factory=dict)

    def register(self, error: ErrorCode) -> None:
        known = self.codes.get(error.code)
        if known is not None and known != error:
            raise ValueError(f"error code {error.code!r} is declared twice with different meanings")
        self.codes[error.code] = error


# Core's own codes. Plugins declare theirs through the `error_codes` hook.
UNAUTHENTICATED = ErrorCode(
    "auth.unauthenticated",
    Category.USER_FIXABLE,
    401,
    "Authentication required",
    "Log in, or send an API token as 'Authorization: Bearer <token>'.",
)
TOKEN_INVALID = ErrorCode(
    "auth.token_invalid",
    Category.USER_FIXABLE,
    401,
    "API token not accepted",
    "The token is unknown, expired or revoked. Create a new one with 'opsyard tokens create'.",
)
FORBIDDEN = ErrorCode(
    "auth.forbidden",
    Category.USER_FIXABLE,
    403,
    "Not allowed",
    "Your role does not allow this. Ask a team owner for a higher role.",
)
LOGIN_FAILED = ErrorCode(
    "auth.login_failed",
    Category.USER_FIXABLE,
    401,
    "Wrong email or password",
    "Check the email and password. Repeated failures lock the account for a while.",
)
LOGIN_LOCKED = ErrorCode(
    "auth.login_locked",
    Category.RETRYABLE,
    429,
    "Too many failed logins",
    "Wait until the lockout ends, then try again.",
)
CSRF_FAILED = ErrorCode(
    "auth.csrf_failed",
    Category.USER_FIXABLE,
    403,
    "Form expired",
    "Reload the page and submit again.",
)
NOT_FOUND = ErrorCode(
    "resource.not_found",
    Category.USER_FIXABLE,
    404,
    "Not found",
    "Check the address; you may not have access to this resource.",
)
METHOD_NOT_ALLOWED = ErrorCode(
    "request.method_not_allowed",
    Category.USER_FIXABLE,
    405,
    "Method not allowed",
    "Use one of the methods listed in the Allow header.",
)
VALIDATION_FAILED = ErrorCode(
    "request.invalid",
    Category.USER_FIXABLE,
    422,
    "The request is not valid",
    "Fix the fields listed in 'errors' and send the request again.",
)
CONFLICT = ErrorCode(
    "resource.conflict",
    Category.USER_FIXABLE,
    409,
    "Conflicts with existing data",
    "Choose a different value or change the existing resource instead.",
)
HTTP_ERROR = ErrorCode(
    "request.rejected",
    Category.USER_FIXABLE,
    400,
    "Request rejected",
    "Check the request against the API documentation at /docs.",
)
UNAVAILABLE = ErrorCode(
    "service.unavailable",
    Category.RETRYABLE,
    503,
    "Temporarily unavailable",
    "A dependency is not answering. Try again shortly.",
)
INTERNAL = ErrorCode(
    "internal.unexpected",
    Category.FATAL,
    500,
    "Unexpected error",
    "Nothing you can change will fix this. Report the reference id to your operators.",
)
PLUGIN_NOT_INSTALLED = ErrorCode(
    "plugins.not_installed",
    Category.USER_FIXABLE,
    404,
    "No such plugin",
    "Run 'opsyard plugins list' to see the installed plugins.",
)
LAST_OWNER = ErrorCode(
    "teams.last_owner",
    Category.USER_FIXABLE,
    409,
    "A team needs an owner",
    "Make another member an owner before removing or demoting the last one.",
)

CORE_ERROR_CODES: tuple[ErrorCode, ...] = (
    UNAUTHENTICATED,
    TOKEN_INVALID,
    FORBIDDEN,
    LOGIN_FAILED,
    LOGIN_LOCKED,
    CSRF_FAILED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    VALIDATION_FAILED,
    CONFLICT,
    HTTP_ERROR,
    UNAVAILABLE,
    INTERNAL,
    PLUGIN_NOT_INSTALLED,
    LAST_OWNER,
)

_BY_STATUS = {
    e.status: e
    for e in (
        UNAUTHENTICATED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        CONFLICT,
        VALIDATION_FAILED,
        UNAVAILABLE,
        INTERNAL,
    )
}


def error_for_status(status: int) -> ErrorCode:
    """The core code that stands for a bare HTTP status raised by the framework."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return INTERNAL if status >= 500 else HTTP_ERROR
