"""Form state for re-rendering a form with the user's input and its errors, and safe redirects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from opsyard.errors import OpsyardError


@dataclass
class FormState:
    """What a form shows: the values typed, an error per field, a message above the form."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    remediation: str = ""
    done: str = ""

    @classmethod
    def failed(
        cls,
        error: OpsyardError,
        values: Mapping[str, str] | None = None,
        *,
        renamed: Mapping[str, str] | None = None,
    ) -> FormState:
        """The form after `error`: each field problem beside its field, the detail on top.

        Core names fields by JSON pointer (``/slug``); `renamed` maps a pointer's first part
        to the form's field name where the two differ (``{"password": "new_password"}``).
        """
        names = dict(renamed or {})
        problems: dict[str, str] = {}
        for problem in error.fields:
            key = problem.pointer.lstrip("/").split("/", 1)[0]
            problems[names.get(key, key)] = problem.detail
        return cls(
            values=dict(values or {}),
            errors=problems,
            message=error.detail,
            remediation="" if problems else error.error.remediation,
        )

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else "/": login must not become an open
    redirect. "//host" and "/\\host" are protocol-relative URLs to browsers, so only a
    single leading slash is accepted, and no backslashes or control characters at all."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    return target
