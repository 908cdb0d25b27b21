"""Keeping secrets out of stored results: response excerpts, headers, URLs, assertion values.

A secret can come back from a target in many spellings: as sent, percent-encoded in a URL,
escaped inside JSON, or inside a credential header. The redactor knows every value that must
not be stored (the check's secrets, credentials sent, tokens issued to the run, extracted
values used as credentials) and replaces each spelling of it with `[REDACTED]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus

REDACTED: Final = "[REDACTED]"
EXCERPT_LIMIT_BYTES: Final = 2048
# Stored assertion values are for reading at a glance; the excerpt holds the body.
ACTUAL_LIMIT_CHARS: Final = 256
# Headers whose whole value is a credential, whatever it contains.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)


def _spellings(value: str) -> set[str]:
    """The ways `value` may appear in a URL, a form or a JSON document."""
    spellings = {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)}
    spellings.add(json.dumps(value)[1:-1])
    spellings.add(json.dumps(value, ensure_ascii=False)[1:-1])
    return {spelling for spelling in spellings if spelling}


class Redactor:
    """Replaces known secret values in text, headers and nested values."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._spellings: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._longest = 0
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Never store `value` (nor its encoded spellings) from now on."""
        new = _spellings(value) - self._spellings
        if new:
            self._spellings |= new
            self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._spellings)

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._spellings, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            self._longest = len(ordered[0])
        return self._pattern

    def text(self, text: str) -> str:
        """`text` with every secret replaced."""
        if not self._spellings or not text:
            return text
        return self._compiled().sub(REDACTED, text)

    def excerpt(self, text: str, limit_bytes: int = EXCERPT_LIMIT_BYTES) -> str:
        """The start of `text`, redacted, at most `limit_bytes` long in UTF-8.

        The text is redacted before it is cut, so a secret that starts inside the excerpt is
        replaced whole; a piece of a secret left at the cut (the redaction shortened the
        text) is removed too.
        """
        window = self._redacted_start(text, limit_bytes)
        cut = window.encode("utf-8")[:limit_bytes].decode("utf-8", errors="ignore")
        return self._without_partial_secret(cut)

    def _redacted_start(self, text: str, size: int) -> str:
        """The first `size` characters and enough after them to hold any secret, redacted."""
        if not self._spellings:
            return text[:size]
        pattern = self._compiled()
        return pattern.sub(REDACTED, text[: size + self._longest])

    def _without_partial_secret(self, text: str) -> str:
        # Cutting one piece can expose the start of another secret, so repeat until none is.
        while text:
            piece = max(
                (
                    size
                    for spelling in self._spellings
                    for size in range(min(len(spelling) - 1, len(text)), 0, -1)
                    if text.endswith(spelling[:size])
                ),
                default=0,
            )
            if not piece:
                break
            text = text[:-piece]
        return text

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Headers with credential headers blanked and secrets replaced in the others."""
        return [
            (name, REDACTED if name.lower() in CREDENTIAL_HEADERS else self.text(value))
            for name, value in headers
        ]

    def value(self, value: Any, *, limit: int | None = None) -> Any:
        """A nested value (strings, lists, mappings) with every string redacted and, with
        `limit`, strings shortened to that many characters."""
        if isinstance(value, str):
            if limit is not None and len(value) > limit:
                start = self._redacted_start(value, limit)[:limit]
                return self._without_partial_secret(start) + "…"
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.value(v, limit=limit) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item, limit=limit) for item in value]
        return value
