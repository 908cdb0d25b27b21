"""Values a flow step takes from its response for later steps: by JSONPath, header or regex.

Every extracted value is a string, because it is used in placeholders (`{{ token }}`) and in
assertions as `vars.token`, where text is compared as a number only if it parses as one. A
rule that finds nothing, or more than one value, is an error that says so: a flow that goes on
with an empty token fails later with a misleading reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jsonpath import CompoundJSONPath, JSONPath, JSONPathError

from opsyard_synthetics.expressions import JSONPATH, NOT_JSON
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

if TYPE_CHECKING:  # definitions validates rules with this module, so only typing goes back
    from opsyard_synthetics.definitions import Extraction


# A header name is an RFC 9110 token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ExtractionError(ValueError):
    """A rule that is invalid, or that found no single value in the response."""


def validate_extraction(source: str, expression: str) -> None:
    """Raise ExtractionError when a rule can never work (a bad JSONPath, regex or header name)."""
    if source == "jsonpath":
        _jsonpath(expression)
    elif source == "regex":
        _regex(expression)
    elif not _TOKEN.fullmatch(expression):
        raise ExtractionError(f"{expression!r} is not a header name")


def extract(
    rule: Extraction,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: str,
    json_value: Any,
) -> str:
    """The value `rule` selects from a response, raising ExtractionError naming what is missing."""
    if rule.source == "jsonpath":
        return _from_json(rule.expression, json_value)
    if rule.source == "header":
        return _from_headers(rule.expression, headers)
    return _from_body(rule.expression, body)


def _from_json(path: str, document: Any) -> str:
    if document is NOT_JSON:
        raise ExtractionError(f"{path}: the body is not JSON")
    matches = _jsonpath(path).findall(document)
    if not matches:
        raise ExtractionError(f"{path} matched nothing in the body")
    if len(matches) > 1:
        raise ExtractionError(f"{path} matched {len(matches)} values; select exactly one")
    value = matches[0]
    if value is None:
        raise ExtractionError(f"{path} is null in the body")
    if isinstance(value, str):
        return value
    # Numbers, booleans, lists and objects keep their JSON spelling (`true`, not `True`).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _from_headers(name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    wanted = name.lower()
    # Repeated headers combine with ", " as RFC 9110 section 5.3 allows.
    values = [value for key, value in items if key.lower() == wanted]
    if not values:
        present = ", ".join(sorted({key.lower() for key, _ in items})) or "none"
        raise ExtractionError(f'header "{name}" is missing (the response has: {present})')
    return ", ".join(values)


def _from_body(pattern: str, body: str) -> str:
    regex = _regex(pattern)
    try:
        match = regex.search(body, deadline=regex_deadline())
    except RegexTimeout as exc:
        raise ExtractionError(
            f"the regex {pattern!r} took longer than {REGEX_TIMEOUT_MS} ms on the body and was "
            f"stopped; {REGEX_TIMEOUT_HINT}"
        ) from exc
    if match is None:
        raise ExtractionError(f"the regex {pattern!r} matched nothing in the body")
    if regex.groups == 0:
        return match.group(0)
    value = match.group(1)
    if value is None:
        raise ExtractionError(f"the group of the regex {pattern!r} took no part in the match")
    return value


@lru_cache(maxsize=1024)
def _jsonpath(path: str) -> JSONPath | CompoundJSONPath:
    try:
        return JSONPATH.compile(path)
    except JSONPathError as exc:
        raise ExtractionError(f"invalid JSONPath {path!r}: {str(exc).splitlines()[0]}") from exc


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> UserRegex:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise ExtractionError(
            f"the regex is {len(pattern)} characters long; at most {MAX_REGEX_LENGTH} are allowed"
        )
    try:
        regex = compile_user_regex(pattern)
    except RegexSyntaxError as exc:
        raise ExtractionError(f"invalid regex {pattern!r}: {exc}") from exc
    if regex.groups > 1:
        raise ExtractionError(
            f"the regex {pattern!r} has {regex.groups} groups; use one group, or none to "
            "take the whole match (write (?:...) for a group that only groups)"
        )
    return regex
