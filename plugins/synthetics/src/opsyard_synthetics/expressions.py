"""The assertion language of synthetic checks: `status == 200 && json("$.count") < 10`.

Grammar (whitespace is free between tokens)::

    or_expr    := and_expr ('||' and_expr)*
    and_expr   := unary ('&&' unary)*
    unary      := '!' unary | '(' or_expr ')' | comparison
    comparison := operand (op operand)?
    op         := '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | 'matches' | 'in'
    operand    := subject | literal
    subject    := 'status' | 'response_time_ms' | 'body' | 'cert_days_left' | 'dns'
                | 'connected' | 'headers' '[' string ']' | 'header' '(' string ')'
                | 'json' '(' string ')' | 'vars' '.' name
    literal    := number | duration | string | 'true' | 'false' | 'null'
                | '[' (literal (',' literal)*)? ']'

Types are strict: a value that cannot be compared is an assertion *error* that names the value
and what was expected (`json("$.count") < 10: "abc" is a string, not a number`), never a silent
zero. Values that come from text with no type of its own (headers, the body, extracted
variables) are compared as numbers only when the whole text parses as a number; a JSON string
stays a string. Null equals only null. Durations (`500ms`, `2s`) compare only with
`response_time_ms` and mean milliseconds. `matches` searches with a regular expression in
Python's `re` syntax; a search that takes longer than `user_regex.REGEX_TIMEOUT_SECONDS` is
stopped and is an error too, never a silent pass or fail.

Evaluation is three-valued (true, false, error) and short-circuits left to right:
`a && b` stops at the first false side, `a || b` at the first true side; an error does not
stop evaluation, so `error || true` passes and `error && false` fails, while `error && true`
and `error || false` are errors. Sides that were never evaluated produce no result.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from typing import Any, Final, Literal, TypeAlias

from jsonpath import CompoundJSONPath, JSONPath, JSONPathEnvironment, JSONPathError

from opsyard_synthetics.user_regex import (
    MAX_REGEX_LENGTH,
    REGEX_TIMEOUT_HINT,
    REGEX_TIMEOUT_MS,
    RegexSyntaxError,
    RegexTimeout,
    UserRegex,
    compile_user_regex,
    regex_deadline,
)

# RFC 9535 JSONPath, strictly: the same path means the same thing as in other tools.
JSONPATH: Final = JSONPathEnvironment(strict=True)

MAX_EXPRESSION_LENGTH: Final = 2000
MAX_NESTING: Final = 32

Facts: TypeAlias = Mapping[str, Any]
"""What the runner observed, by key: "status" (int), "response_time_ms" (float), "headers"
(mapping of str to str, looked up case-insensitively), "body" (str), "json" (the parsed body or
NOT_JSON), "cert_days_left" (float or None), "vars" (extracted variables), "dns" (list of
answers), "connected" (bool). A key a check kind does not produce is simply absent."""


class NotJson(Enum):
    """The `json` fact of a body that is not JSON (JSON's own `null` is None, so a sentinel)."""

    NOT_JSON = "not JSON"


NOT_JSON: Final = NotJson.NOT_JSON


def parse_json_body(body: str) -> Any:
    """The body parsed as JSON, or NOT_JSON when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return NOT_JSON


@dataclass(frozen=True)
class AssertionResult:
    """The outcome of one assertion, or of one comparison inside it.

    `error` means the comparison could not be made (a missing header, a string where a number
    was expected); `passed` is then False. `part` is True for the comparisons of a compound
    expression, which follow its verdict in `Expression.evaluate`'s list.
    """

    expression: str
    passed: bool
    actual: Any
    message: str
    error: bool = False
    part: bool = False


class ExpressionSyntaxError(ValueError):
    """An expression that cannot be compiled; `column` is 1-based."""

    def __init__(self, message: str, *, text: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.reason = message
        self.text = text
        self.column = column


# ---------------------------------------------------------------------------------------------
# Tokens

TokenKind = Literal[
    "number", "duration", "string", "name", "op", "and", "or", "not", "(", ")", "[", "]", ",",
    ".", "end",
]  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int
    value: Any = None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_UNITS: Final = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}
_SYMBOLS: Final[dict[str, TokenKind]] = {
    "&&": "and", "||": "or", "==": "op", "!=": "op", "<=": "op", ">=": "op", "<": "op",
    ">": "op", "!": "not", "(": "(", ")": ")", "[": "[", "]": "]", ",": ",", ".": ".",
}  # fmt: skip
_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r"}


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if char in "\"'":
            tokens.append(_string_token(text, pos))
            pos = tokens[-1].end
            continue
        number = _NUMBER.match(text, pos)
        if number and (char.isdigit() or char == "-"):
            tokens.append(_number_token(text, number))
            pos = tokens[-1].end
            continue
        name = _NAME.match(text, pos)
        if name:
            tokens.append(Token("name", name.group(), pos, name.end()))
            pos = name.end()
            continue
        symbol = text[pos : pos + 2] if text[pos : pos + 2] in _SYMBOLS else char
        if symbol in _SYMBOLS:
            tokens.append(Token(_SYMBOLS[symbol], symbol, pos, pos + len(symbol)))
            pos += len(symbol)
            continue
        hints = {"=": "use == to compare", "&": "use && for and", "|": "use || for or"}
        raise ExpressionSyntaxError(
            hints.get(char, f"unexpected character {char!r}"), text=text, column=pos + 1
        )
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def _number_token(text: str, number: re.Match[str]) -> Token:
    start, end = number.span()
    literal = number.group()
    value: float | int = float(literal) if any(c in literal for c in ".eE") else int(literal)
    unit = _NAME.match(text, end)
    if unit is None:
        return Token("number", literal, start, end, value)
    if unit.group() not in _DURATION_UNITS:
        raise ExpressionSyntaxError(
            f"unknown unit {unit.group()!r} after {literal}; durations use ms, s or m",
            text=text,
            column=end + 1,
        )
    millis = value * _DURATION_UNITS[unit.group()]
    return Token("duration", text[start : unit.end()], start, unit.end(), millis)


def _string_token(text: str, start: int) -> Token:
    quote = text[start]
    pos = start + 1
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return Token("string", text[start : pos + 1], start, pos + 1, "".join(chars))
        if char == "\\":
            escape = text[pos + 1 : pos + 2]
            if escape in _ESCAPES:
                chars.append(_ESCAPES[escape])
                pos += 2
                continue
            hex_digits = text[pos + 2 : pos + 6]
            if escape == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", hex_digits):
                chars.append(chr(int(hex_digits, 16)))
                pos += 6
                continue
            raise ExpressionSyntaxError(
                f"unknown escape \\{escape} in a string", text=text, column=pos + 1
            )
        chars.append(char)
        pos += 1
    raise ExpressionSyntaxError("the string is never closed", text=text, column=start + 1)


# ---------------------------------------------------------------------------------------------
# Syntax tree

SUBJECT_NAMES: Final = frozenset(
    {"status", "response_time_ms", "body", "cert_days_left", "dns", "connected"}
)
"""Subjects written as a bare name; `headers[...]`, `header(...)`, `json(...)` and `vars.x`
are the others."""


@dataclass(frozen=True)
class Constant:
    text: str
    value: Any
    duration: bool = False


@dataclass(frozen=True)
class Subject:
    """A value read from the facts: `name` is the fact, `key` the header, path or variable."""

    text: str
    name: str
    key: str | None = None
    path: JSONPath | CompoundJSONPath | None = None


Operand: TypeAlias = Constant | Subject


@dataclass(frozen=True)
class Comparison:
    text: str
    left: Operand
    op: str | None = None
    right: Operand | None = None
    pattern: UserRegex | None = None


@dataclass(frozen=True)
class Not:
    text: str
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    text: str
    op: Literal["&&", "||"]
    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | Not | BoolOp

_WORD_OPS: Final = frozenset({"contains", "matches", "in"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- helpers

    def current(self) -> Token:
        # A method, not a property: the token changes as the parser advances.
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> ExpressionSyntaxError:
        at = token or self.current()
        return ExpressionSyntaxError(message, text=self.text, column=at.start + 1)

    def expect(self, kind: TokenKind, what: str) -> Token:
        if self.current().kind != kind:
            raise self.fail(f"expected {what}, found {self._describe(self.current())}")
        return self.advance()

    def span(self, start: Token) -> str:
        return self.text[start.start : self.tokens[self.pos - 1].end]

    @staticmethod
    def _describe(token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(token.text)

    # -- grammar

    def parse(self) -> Node:
        if self.current().kind == "end":
            raise self.fail("the expression is empty")
        node = self.or_expr()
        if self.current().kind != "end":
            raise self.fail(
                f"unexpected {self._describe(self.current())}; join comparisons with && or ||"
            )
        return node

    def or_expr(self) -> Node:
        return self._bool_op("or", "||", self.and_expr)

    def and_expr(self) -> Node:
        return self._bool_op("and", "&&", self.unary)

    def _bool_op(self, kind: TokenKind, op: Literal["&&", "||"], side: Callable[[], Node]) -> Node:
        start = self.current()
        operands: list[Node] = [side()]
        while self.current().kind == kind:
            self.advance()
            operands.append(side())
        if len(operands) == 1:
            return operands[0]
        return BoolOp(self.span(start), op, tuple(operands))

    def unary(self) -> Node:
        start = self.current()
        if start.kind == "not":
            self.advance()
            operand = self.nested(self.unary)
            return Not(self.span(start), operand)
        if start.kind == "(":
            self.advance()
            node = self.nested(self.or_expr)
            self.expect(")", "')' to close the '(' at column " + str(start.start + 1))
            return node
        return self.comparison()

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nested more than {MAX_NESTING} levels deep")
        node = parse()
        self.depth -= 1
        return node

    def comparison(self) -> Comparison:
        start = self.current()
        left = self.operand()
        op_token = self.current()
        if op_token.kind == "op" or (op_token.kind == "name" and op_token.text in _WORD_OPS):
            self.advance()
            if self.current().kind in ("end", "and", "or", ")"):
                raise self.fail(f"expected a value after {op_token.text!r}")
            right_start = self.current()
            right = self.operand()
            return self._checked(start, left, op_token, right, right_start)
        if isinstance(left, Constant):
            raise self.fail(
                f"{left.text} alone is a constant; compare a subject such as status", start
            )
        return Comparison(self.span(start), left)

    def _checked(
        self, start: Token, left: Operand, op: Token, right: Operand, right_start: Token
    ) -> Comparison:
        # Mistakes that make an assertion meaningless are refused when it is written.
        if isinstance(left, Constant) and isinstance(right, Constant):
            raise self.fail("this compares two constants, so it can never change", start)
        for side, other, token in ((left, right, start), (right, left, right_start)):
            timed = isinstance(other, Subject) and other.name == "response_time_ms"
            if isinstance(side, Constant) and side.duration and not timed:
                raise self.fail(
                    f"the duration {side.text} can only be compared with response_time_ms", token
                )
        pattern = None
        if op.text == "matches":
            if not (isinstance(right, Constant) and isinstance(right.value, str)):
                raise self.fail("matches needs a regular expression in a string", right_start)
            pattern = _compile_regex(right.value, self.text, right_start)
        if (
            op.text == "in"
            and isinstance(right, Constant)
            and not isinstance(right.value, list | str)
        ):
            raise self.fail("in needs a list such as [200, 204] or a string", right_start)
        return Comparison(self.span(start), left, op.text, right, pattern)

    def operand(self) -> Operand:
        token = self.current()
        if token.kind in ("number", "string"):
            self.advance()
            return Constant(token.text, token.value)
        if token.kind == "duration":
            self.advance()
            return Constant(token.text, token.value, duration=True)
        if token.kind == "[":
            return self.list_literal()
        if token.kind != "name":
            raise self.fail(f"expected a value, found {self._describe(token)}")
        self.advance()
        word = token.text
        if word in ("true", "false", "null"):
            return Constant(word, {"true": True, "false": False, "null": None}[word])
        if word in SUBJECT_NAMES:
            return Subject(word, word)
        if word == "headers":
            self.expect("[", "'[' after headers, as in headers[\"Content-Type\"]")
            name = self.expect("string", "a header name in quotes").value
            self.expect("]", "']' after the header name")
            return Subject(self.span(token), "headers", name)
        if word in ("header", "json"):
            self.expect("(", f"'(' after {word}")
            argument = self.expect("string", f"a {'JSONPath' if word == 'json' else 'name'}")
            self.expect(")", f"')' to close {word}(")
            if word == "header":
                return Subject(self.span(token), "headers", argument.value)
            path = _compile_jsonpath(argument.value, self.text, argument)
            return Subject(self.span(token), "json", argument.value, path)
        if word == "vars":
            self.expect(".", "'.' after vars, as in vars.token")
            name = self.expect("name", "a variable name after vars.")
            return Subject(self.span(token), "vars", name.text)
        if word in _WORD_OPS:
            raise self.fail(f"{word!r} needs a value on its left", token)
        known = sorted([*SUBJECT_NAMES, "headers[...]", "header(...)", "json(...)", "vars.NAME"])
        raise self.fail(f"unknown name {word!r}; use one of {', '.join(known)}", token)

    def list_literal(self) -> Constant:
        start = self.advance()
        items: list[Any] = []
        while self.current().kind != "]":
            token = self.current()
            if token.kind in ("number", "string"):
                items.append(self.advance().value)
            elif token.kind == "name" and token.text in ("true", "false", "null"):
                items.append({"true": True, "false": False, "null": None}[self.advance().text])
            else:
                raise self.fail(f"a list holds constants only, found {self._describe(token)}")
            if self.current().kind == ",":
                self.advance()
            elif self.current().kind != "]":
                raise self.fail(f"expected ',' or ']', found {self._describe(self.current())}")
        self.advance()
        return Constant(self.span(start), items)


def _compile_regex(pattern: str, text: str, at: Token) -> UserRegex:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise ExpressionSyntaxError(
            f"the regular expression is {len(pattern)} characters long; "
            f"at most {MAX_REGEX_LENGTH} are allowed",
            text=text,
            column=at.start + 1,
        )
    try:
        return compile_user_regex(pattern)
    except RegexSyntaxError as exc:
        raise ExpressionSyntaxError(
            f"invalid regular expression: {exc}", text=text, column=at.start + 1
        ) from exc


def _compile_jsonpath(path: str, text: str, at: Token) -> JSONPath | CompoundJSONPath:
    try:
        return JSONPATH.compile(path)
    except JSONPathError as exc:
        reason = str(exc).splitlines()[0]
        raise ExpressionSyntaxError(
            f"invalid JSONPath {path!r}: {reason}", text=text, column=at.start + 1
        ) from exc


# ---------------------------------------------------------------------------------------------
# Values and their types


def _show(value: Any, limit: int = 80) -> str:
    if value is NOT_JSON:
        return "not JSON"
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_EXACT_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Value:
    """A resolved operand; `textual` marks text with no type of its own (headers, body, vars)."""

    value: Any
    textual: bool = False
    constant: bool = False

    def as_number(self) -> int | float | None:
        """The value as a number: numbers as they are, textual values only if they parse exactly."""
        if _is_number(self.value):
            return self.value  # type: ignore[no-any-return]
        if self.textual and isinstance(self.value, str) and _EXACT_NUMBER.fullmatch(self.value):
            text = self.value
            return float(text) if any(c in text for c in ".eE") else int(text)
        return None


class _Unresolvable(Exception):
    """A subject with no value in these facts; the message says why."""


def _resolve(operand: Operand, facts: Facts) -> Value:
    if isinstance(operand, Constant):
        return Value(operand.value, constant=True)
    name = operand.name
    if name not in facts:
        raise _Unresolvable(f"{operand.text} is not available for this check")
    fact = facts[name]
    if name == "headers":
        return Value(_header(fact, operand.key or ""), textual=True)
    if name == "json":
        return Value(_json_value(fact, operand, facts.get("body")))
    if name == "vars":
        if not isinstance(fact, Mapping) or operand.key not in fact:
            known = ", ".join(sorted(fact)) if isinstance(fact, Mapping) and fact else "none"
            raise _Unresolvable(f"{operand.text} is not set (extracted so far: {known})")
        return Value(fact[operand.key], textual=True)
    if name == "cert_days_left" and fact is None:
        raise _Unresolvable("there is no certificate (plain HTTP, or the handshake failed)")
    if fact is None:  # a fact the probe could not observe this time is not JSON's null
        raise _Unresolvable(f"{operand.text} has no value in this run")
    return Value(fact, textual=name in ("body", "dns"))


def _header(headers: Any, name: str) -> str:
    wanted = name.lower()
    items = list(headers.items() if hasattr(headers, "items") else headers)
    # Repeated headers combine with ", " as RFC 9110 section 5.3 allows.
    values = [str(value) for key, value in items if str(key).lower() == wanted]
    if not values:
        present = ", ".join(sorted({str(key).lower() for key, _ in items})) or "none"
        raise _Unresolvable(f'header "{name}" is missing (the response has: {present})')
    return ", ".join(values)


def _json_value(document: Any, operand: Subject, body: Any) -> Any:
    if document is NOT_JSON:
        start = f" (it starts with {_show(body[:40])})" if isinstance(body, str) else ""
        raise _Unresolvable(f"the body is not JSON{start}")
    assert operand.path is not None  # the parser compiles the path of every json(...)
    matches = operand.path.findall(document)
    if not matches:
        raise _Unresolvable(f"{operand.key} matched nothing in the body")
    # One match is the value itself; several are a list, which `contains` can search.
    return matches[0] if len(matches) == 1 else list(matches)


# ---------------------------------------------------------------------------------------------
# Comparisons


class _Undecidable(Exception):
    """A comparison that could not be made; the message says why."""


class _TypeProblem(_Undecidable):
    """Two values that cannot be compared; the message names the value at fault."""


def _mismatch(value: Value, expected: str) -> _TypeProblem:
    shown = "the value is null" if value.value is None else f"{_show(value.value)} is"
    if value.value is not None:
        shown += f" {_type_name(value.value)}"
    return _TypeProblem(f"{shown}, not {expected}")


def _numbers(left: Value, right: Value) -> tuple[int | float, int | float] | None:
    """Both sides as numbers when one is a number and the other is or parses as one."""
    if not (_is_number(left.value) or _is_number(right.value)):
        return None
    a, b = left.as_number(), right.as_number()
    if a is None:
        raise _mismatch(left, "a number")
    if b is None:
        raise _mismatch(right, "a number")
    return a, b


def _equal(left: Value, right: Value) -> bool:
    if left.value is None or right.value is None:
        return left.value is None and right.value is None
    numbers = _numbers(left, right)
    if numbers is not None:
        return numbers[0] == numbers[1]
    if _type_name(left.value) != _type_name(right.value):
        # The observed side is at fault; the constant says what was expected.
        bad, good = (left, right) if not left.constant else (right, left)
        raise _mismatch(bad, _type_name(good.value))
    return bool(left.value == right.value)


def _order(op: str, left: Value, right: Value) -> bool:
    numbers = _numbers(left, right)
    if numbers is not None:
        return _ORDER[op](*numbers)
    if isinstance(left.value, str) and isinstance(right.value, str):
        # Strings order by code point, which suits ISO dates and versions of equal width.
        return _ORDER[op](left.value, right.value)
    bad = left if not isinstance(left.value, str) else right
    raise _mismatch(bad, "a number or a string")


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _loosely_equal(item: Any, wanted: Value, textual: bool) -> bool:
    # Membership asks "is it among these": an item of another type is simply not it.
    try:
        return _equal(Value(item, textual), wanted)
    except _TypeProblem:
        return False


def _contains(container: Value, item: Value) -> bool:
    haystack = container.value
    if isinstance(haystack, str):
        if not isinstance(item.value, str):
            raise _mismatch(item, "a string to look for in the text")
        return item.value in haystack
    if isinstance(haystack, list | tuple):
        return any(_loosely_equal(entry, item, container.textual) for entry in haystack)
    if isinstance(haystack, Mapping):
        if not isinstance(item.value, str):
            raise _mismatch(item, "a key name (a string)")
        return item.value in haystack
    raise _mismatch(container, "text, a list or an object")


def _matches(subject: Value, pattern: UserRegex) -> bool:
    # One budget for the whole comparison: the target decides how many texts a list holds.
    deadline = regex_deadline()
    try:
        if isinstance(subject.value, str):
            return pattern.search(subject.value, deadline=deadline) is not None
        if isinstance(subject.value, list | tuple) and all(
            isinstance(v, str) for v in subject.value
        ):
            return any(pattern.search(v, deadline=deadline) for v in subject.value)
    except RegexTimeout as exc:
        raise _Undecidable(
            f"the regular expression {_show(pattern.source)} took longer than "
            f"{REGEX_TIMEOUT_MS} ms and was stopped; {REGEX_TIMEOUT_HINT}"
        ) from exc
    raise _mismatch(subject, "text to match")


def _apply(comparison: Comparison, left: Value, right: Value) -> bool:
    op = comparison.op
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _order(op, left, right)
    if op == "contains":
        return _contains(left, right)
    if op == "in":
        return _contains(right, left)
    assert comparison.pattern is not None  # compile() set it for every `matches`
    return _matches(left, comparison.pattern)


# ---------------------------------------------------------------------------------------------
# Evaluation

Truth: TypeAlias = bool | None  # None: the comparison could not be made


@dataclass
class _Run:
    facts: Facts
    leaves: list[AssertionResult] = field(default_factory=list)


def _leaf(comparison: Comparison, run: _Run) -> tuple[Truth, list[AssertionResult]]:
    text = comparison.text
    try:
        left = _resolve(comparison.left, run.facts)
        right = _resolve(comparison.right, run.facts) if comparison.right else None
    except _Unresolvable as exc:
        result = AssertionResult(text, False, None, f"{text}: {exc}", error=True)
        return None, [result]
    # The observed value is what a reader wants to see, whichever side it was written on.
    actual = right.value if left.constant and right is not None else left.value
    try:
        if right is None:
            if not isinstance(left.value, bool):
                raise _mismatch(left, "true or false")
            passed = left.value
        else:
            passed = _apply(comparison, left, right)
    except _Undecidable as exc:
        result = AssertionResult(text, False, actual, f"{text}: {exc}", error=True)
        return None, [result]
    return passed, [AssertionResult(text, passed, actual, f"{text}: got {_show(actual)}")]


def _evaluate(node: Node, run: _Run) -> tuple[Truth, list[AssertionResult]]:
    """The node's truth and the results of the comparisons that decided it."""
    if isinstance(node, Comparison):
        truth, reasons = _leaf(node, run)
        run.leaves.extend(reasons)
        return truth, reasons
    if isinstance(node, Not):
        truth, reasons = _evaluate(node.operand, run)
        return (None if truth is None else not truth), reasons
    stop = node.op == "||"  # `||` stops at the first true side, `&&` at the first false one
    errors: list[AssertionResult] = []
    others: list[AssertionResult] = []
    for operand in node.operands:
        truth, reasons = _evaluate(operand, run)
        if truth is stop:
            return stop, reasons
        (errors if truth is None else others).extend(reasons)
    if errors:
        return None, errors
    return not stop, others


@dataclass(frozen=True)
class Expression:
    """A compiled assertion; evaluate it against the facts of one response."""

    text: str
    root: Node

    def evaluate(self, facts: Facts) -> list[AssertionResult]:
        """The verdict first, then (for compound expressions) each comparison evaluated."""
        run = _Run(facts)
        truth, reasons = _evaluate(self.root, run)
        if isinstance(self.root, Comparison):
            return run.leaves
        verdict = _verdict(self.text, truth, reasons)
        return [verdict, *(replace(leaf, part=True) for leaf in run.leaves)]

    @property
    def subjects(self) -> frozenset[str]:
        """The facts this expression reads: "status", "headers", "json", "vars", ..."""
        return frozenset(subject.name for subject in _subjects(self.root))

    @property
    def variables(self) -> frozenset[str]:
        """The extracted variables this expression reads as `vars.NAME`."""
        return frozenset(
            s.key for s in _subjects(self.root) if s.name == "vars" and s.key is not None
        )


def _verdict(text: str, truth: Truth, reasons: Sequence[AssertionResult]) -> AssertionResult:
    why = "; ".join(_because(reason) for reason in reasons)
    actual = [reason.actual for reason in reasons] if len(reasons) > 1 else reasons[0].actual
    # `passed` and `error` carry the verdict; the message gives the comparisons behind it.
    return AssertionResult(text, truth is True, actual, why, error=truth is None)


def _because(leaf: AssertionResult) -> str:
    if leaf.error:
        return leaf.message
    truth = "true" if leaf.passed else "false"
    return f"{leaf.expression} is {truth} (got {_show(leaf.actual)})"


def _subjects(node: Node) -> Iterator[Subject]:
    if isinstance(node, Comparison):
        for side in (node.left, node.right):
            if isinstance(side, Subject):
                yield side
    elif isinstance(node, Not):
        yield from _subjects(node.operand)
    else:
        for operand in node.operands:
            yield from _subjects(operand)


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Parse an assertion, raising ExpressionSyntaxError with the column at fault."""
    # Cached: the runner evaluates the same few assertions on every run of every check.
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(
            f"the expression is {len(text)} characters long; at most "
            f"{MAX_EXPRESSION_LENGTH} are allowed",
            text=text,
            column=MAX_EXPRESSION_LENGTH + 1,
        )
    return Expression(text, _Parser(text).parse())
