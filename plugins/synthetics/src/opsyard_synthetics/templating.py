"""Placeholders in check definitions: `{{ token }}` for a value an earlier step extracted and
`{{ secrets.NAME }}` for a secret stored apart from the check.

An unknown name is an error, never an empty string: a request sent with a blank token fails
somewhere far from the typo that caused it. `{{` always opens a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

SECRETS_PREFIX: Final = "secrets."

_OPEN: Final = "{{"
_CLOSE: Final = "}}"
_NAME = re.compile(r"(?:secrets\.)?[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """A placeholder that is malformed or names nothing known; the message never holds values."""


def placeholders(text: str) -> list[str]:
    """The names of the placeholders in `text`, in order (`token`, `secrets.API_KEY`)."""
    names: list[str] = []
    pos = 0
    while (start := text.find(_OPEN, pos)) != -1:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end == -1:
            raise TemplateError(f"the placeholder at character {start + 1} is never closed")
        name = text[start + len(_OPEN) : end].strip()
        if not _NAME.fullmatch(name):
            raise TemplateError(
                f"{text[start : end + len(_CLOSE)]!r} is not a placeholder; "
                "write {{ name }} or {{ secrets.NAME }}"
            )
        names.append(name)
        pos = end + len(_CLOSE)
    return names


def secret_names(text: str) -> list[str]:
    """The secrets `text` refers to, without the `secrets.` prefix."""
    return [n.removeprefix(SECRETS_PREFIX) for n in placeholders(text) if is_secret(n)]


def is_secret(name: str) -> bool:
    """Whether a placeholder name refers to a secret rather than an extracted variable."""
    return name.startswith(SECRETS_PREFIX)


def template_variables(
    *, extracted: Mapping[str, str], secrets: Mapping[str, str]
) -> dict[str, str]:
    """The mapping `render` takes: extracted variables by name, secrets as `secrets.NAME`."""
    variables = dict(extracted)
    variables.update({SECRETS_PREFIX + name: value for name, value in secrets.items()})
    return variables


def render(text: str, variables: Mapping[str, str]) -> str:
    """`text` with every placeholder replaced, raising TemplateError on an unknown name."""
    if _OPEN not in text:
        return text
    parts: list[str] = []
    pos = 0
    for name in placeholders(text):
        start = text.index(_OPEN, pos)
        end = text.index(_CLOSE, start + len(_OPEN)) + len(_CLOSE)
        if name not in variables:
            raise TemplateError(_unknown(name, variables))
        parts.append(text[pos:start])
        parts.append(variables[name])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _unknown(name: str, variables: Mapping[str, str]) -> str:
    secret = is_secret(name)
    known = sorted(n for n in variables if is_secret(n) == secret)
    what = "secret" if secret else "variable"
    listed = ", ".join(known) if known else "none"
    return f"unknown {what} {name!r} in a placeholder (known: {listed})"
