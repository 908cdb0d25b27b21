"""Regular expressions written by check authors: in `matches` assertions and regex
extraction.

They are written in Python's `re` syntax and `re` decides which are valid, but they are
matched by the `regex` engine (mrab-regex), because `re` cannot stop a search: a pattern that
backtracks without end would hold the location's event loop, and every check on it, for
minutes. `regex` takes a timeout and raises TimeoutError. Decision 0016.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final

import regex

# A pattern is meant to be read in a review and compiled on every worker: keep it short.
MAX_REGEX_LENGTH: Final = 500
# Regexes only look at the start of a very large body.
MAX_REGEX_SUBJECT: Final = 1024 * 1024
# How long one `matches` comparison (over every text it searches, such as each DNS answer) or
# one regex extraction may search before it is stopped. An ordinary pattern scans a whole
# MAX_REGEX_SUBJECT body in a few milliseconds, so this is far above any search that ends by
# itself; a pattern that backtracks without end (`(a+)+$`) is stopped after it, and so delays
# the other checks sharing the location's event loop by no more than this.
REGEX_TIMEOUT_SECONDS: Final = 0.1

REGEX_TIMEOUT_MS: Final = round(REGEX_TIMEOUT_SECONDS * 1000)
REGEX_TIMEOUT_HINT: Final = (
    "simplify the pattern: a repeat inside a repeat, such as (a+)+ or (.*,)*, can try "
    "exponentially many ways to match"
)


class RegexSyntaxError(ValueError):
    """A pattern that cannot be used: one Python's `re` refuses, with `re`'s message."""


class RegexTimeout(Exception):
    """A search stopped after REGEX_TIMEOUT_SECONDS; `pattern` is the pattern as written."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"the regular expression {pattern!r} took too long and was stopped")
        self.pattern = pattern


@dataclass(frozen=True)
class UserRegex:
    """A check author's pattern: `source` as written, `engine` the `regex` pattern to search."""

    source: str
    engine: regex.Pattern[str]

    @property
    def groups(self) -> int:
        return self.engine.groups

    def search(self, text: str, *, deadline: float) -> regex.Match[str] | None:
        """The first match in the first MAX_REGEX_SUBJECT characters of `text`, raising
        RegexTimeout once `time.monotonic()` passes `deadline` (several searches may share one
        deadline from `regex_deadline()`)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RegexTimeout(self.source)
        try:
            return self.engine.search(text[:MAX_REGEX_SUBJECT], timeout=remaining)
        except TimeoutError:
            raise RegexTimeout(self.source) from None


def regex_deadline() -> float:
    """The deadline of searches that start now: REGEX_TIMEOUT_SECONDS from now."""
    return time.monotonic() + REGEX_TIMEOUT_SECONDS


def compile_user_regex(pattern: str) -> UserRegex:
    """`pattern` ready to search, raising RegexSyntaxError when Python's `re` refuses it.

    `re` decides validity, so every pattern that was accepted before the `regex` engine came
    in is still accepted (stored checks keep loading) and means what it meant.
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        raise RegexSyntaxError(str(exc)) from exc
    try:
        engine = regex.compile(_regex_spelling(pattern), flags=regex.VERSION0)
    except (regex.error, ValueError) as exc:  # a pattern `re` accepts: only a respelling bug
        raise RegexSyntaxError(f"the matching engine cannot read it ({exc})") from exc
    return UserRegex(pattern, engine)


# `re` reads `{` as a repeat only in these forms (ASCII digits); any other `{` is a literal.
_RE_REPEAT: Final = re.compile(r"\{[0-9]*(?:,[0-9]*)?\}")
# Inline flags: `(?x)` for the whole pattern, `(?x:...)` or `(?-x:...)` for one group.
_RE_FLAGS: Final = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?([:)])")
_RE_NAMED_CHARACTER: Final = re.compile(r"\\N\{[^}]*\}")
# What a comment keeps: nothing that could end it earlier or later for `regex` than for `re`.
_INERT_COMMENT: Final = str.maketrans("", "", "\\\n()")


def _regex_spelling(pattern: str) -> str:
    """`pattern`, which `re` accepts, spelt so that `regex` in VERSION0 reads it as `re` does."""
    return _Respeller(pattern).respell()


class _Respeller:
    """VERSION0 is `regex`'s `re`-compatible mode, except where `re` reads characters literally
    that `regex` gives a meaning: a `{` that is not a repeat (`/users/{id}`) is a fuzzy-matching
    constraint or an error to `regex`, a `[` inside a set starts a POSIX class
    (`[[:digit:]]`), and a comment ends at the first newline or `)` even where `re` reads it as
    escaped. Those are escaped, or dropped from comments; everything else is copied as it is.
    The pattern must be one `re` accepts (balanced groups and sets)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.spelt: list[str] = []
        self.verbose = False  # `(?x)`: whitespace and `#` comments are ignored
        self.outer_verbose: list[bool] = []  # the mode outside each group we are in

    def respell(self) -> str:
        while self.pos < len(self.pattern):
            char = self.pattern[self.pos]
            if char == "\\":
                self._escape()
            elif char == "[":
                self._set()
            elif char == "#" and self.verbose:
                self._line_comment()
            elif char == "(":
                self._group_start()
            elif char == ")":
                self.verbose = self.outer_verbose.pop()
                self._copy(1)
            elif char == "{":
                self._brace()
            else:
                self._copy(1)
        return "".join(self.spelt)

    def _copy(self, length: int) -> None:
        self.spelt.append(self.pattern[self.pos : self.pos + length])
        self.pos += length

    def _escape(self) -> None:
        # `\N{NAME}` is one character; any other escape is a backslash and one character.
        named = _RE_NAMED_CHARACTER.match(self.pattern, self.pos)
        self._copy(named.end() - self.pos if named else 2)

    def _set(self) -> None:
        # As in `re`, a `]` right after `[` or `[^` is a member, not the end of the set.
        self._copy(2 if self.pattern.startswith("[^", self.pos) else 1)
        first = True
        while first or self.pattern[self.pos] != "]":
            first = False
            char = self.pattern[self.pos]
            if char == "\\":
                self._copy(2)
            elif char == "[":
                self.spelt.append("\\[")
                self.pos += 1
            else:
                self._copy(1)
        self._copy(1)

    def _line_comment(self) -> None:
        # `re` ends it at the first newline that is not escaped; the newline is then copied as
        # whitespace, which verbose mode ignores.
        end = self.pos + 1
        while end < len(self.pattern) and self.pattern[end] != "\n":
            end += 2 if self.pattern[end] == "\\" else 1
        self.spelt.append("#" + self.pattern[self.pos + 1 : end].translate(_INERT_COMMENT))
        self.pos = end

    def _group_start(self) -> None:
        if self.pattern.startswith("(?#", self.pos):
            end = self.pos + 3
            while self.pattern[end] != ")":
                end += 2 if self.pattern[end] == "\\" else 1
            comment = self.pattern[self.pos + 3 : end].translate(_INERT_COMMENT)
            self.spelt.append(f"(?#{comment})")
            self.pos = end + 1
            return
        flags = _RE_FLAGS.match(self.pattern, self.pos)
        if flags and flags.group(3) == ")":  # flags for the whole pattern, not a group
            self.verbose = self.verbose or "x" in flags.group(1)
        else:
            self.outer_verbose.append(self.verbose)
            if flags:
                turned_on, turned_off = flags.group(1), flags.group(2) or ""
                self.verbose = (self.verbose or "x" in turned_on) and "x" not in turned_off
        self._copy(flags.end() - self.pos if flags else 1)

    def _brace(self) -> None:
        repeat = _RE_REPEAT.match(self.pattern, self.pos)
        if repeat and repeat.group() != "{}":
            self._copy(repeat.end() - self.pos)
        else:
            self.spelt.append("\\{")
            self.pos += 1
