"""The assertion language: grammar, strict types, short-circuiting and the messages it gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsyard_synthetics.expressions import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    NOT_JSON,
    AssertionResult,
    ExpressionSyntaxError,
    compile_expression,
    parse_json_body,
)
from opsyard_synthetics.user_regex import MAX_REGEX_LENGTH

BODY = (
    '{"count": "abc", "five": "5", "n": 3, "ratio": 0.5, "flag": true, "none": null,'
    ' "items": [1, 2], "users": [{"name": "ann", "age": 41}, {"name": "bo", "age": 17}],'
    ' "obj": {"a": 1}, "label": "b\\"c"}'
)


def facts(**overrides: Any) -> dict[str, Any]:
    """What an HTTP probe saw: the runner builds exactly these keys."""
    base: dict[str, Any] = {
        "status": 200,
        "response_time_ms": 120.5,
        "headers": {
            "Content-Type": "application/json",
            "Content-Length": "42",
            "Server": "nginx",
            "X-Padded": " 42",
            "X-Float": "1e3",
            "X-Hex": "0x10",
            "X-Nan": "NaN",
            "X-Underscore": "4_2",
        },
        "body": BODY,
        "json": parse_json_body(BODY),
        "cert_days_left": 30.0,
        "vars": {"token": "t-1", "count": "7"},
    }
    base.update(overrides)
    return base


def verdict(text: str, observed: dict[str, Any] | None = None) -> AssertionResult:
    return compile_expression(text).evaluate(facts() if observed is None else observed)[0]


# ---------------------------------------------------------------------------------------------
# Grammar: precedence, parentheses, negation


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("status == 200", True),
        ("status != 200", False),
        # && binds tighter than ||: true || (false && ...)
        ('status == 200 || status == 500 && body contains "nope"', True),
        ('(status == 200 || status == 500) && body contains "nope"', False),
        ('status == 500 && body contains "nope" || status == 200', True),
        ('status == 500 && (body contains "nope" || status == 200)', False),
        ("!(status == 500)", True),
        ("! (status == 200)", False),
        # `!` applies to the whole comparison that follows it.
        ("!status == 500", True),
        ("!!(status == 200)", True),
        ("!(status == 200 && status == 500)", True),
        ("!(status == 200) || !(status == 500)", True),
        ("((((status == 200))))", True),
        ('status==200&&body contains"count"', True),
        ("status == 200 && status == 200 && status == 200 && status == 201", False),
        ("status == 1 || status == 2 || status == 3 || status == 200", True),
    ],
)
def test_precedence_and_grouping(text: str, passed: bool) -> None:
    result = verdict(text)
    assert (result.passed, result.error) == (passed, False), result.message


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("status == 200", True),
        ("status == 200.0", True),
        ("status != 201", True),
        ("status < 300", True),
        ("status <= 200", True),
        ("status > 200", False),
        ("status >= 200", True),
        ("200 == status", True),
        ("300 > status", True),
        ("response_time_ms < 200", True),
        ("response_time_ms < 100", False),
        ("cert_days_left >= 30", True),
        ("cert_days_left > 30", False),
        ('body contains "\\"count\\": \\"abc\\""', True),
        ("body contains 'items'", True),
        ('body contains "missing"', False),
        ('"count" in body', True),
        ("status in [200, 204]", True),
        ("status in [500, 503]", False),
        ("status in []", False),
        ('json("$.n") == 3', True),
        ('json("$.ratio") < 1', True),
        ('json("$.count") == "abc"', True),
        ('json("$.label") == "b\\"c"', True),
        ('json("$.flag") == true', True),
        ('json("$.flag") != false', True),
        ('json("$.flag")', True),
        ('!json("$.flag")', False),
        ('json("$.none") == null', True),
        ('json("$.count") == null', False),
        ('json("$.none") != null', False),
        ('json("$.items") == [1, 2]', True),
        ('json("$.items") contains 2', True),
        ('json("$.items") contains 9', False),
        ('json("$.items[*]") contains 1', True),
        ('json("$.users[*].name") contains "bo"', True),
        ('json("$.users[?@.age > 18].name") == "ann"', True),
        ('json("$.users[0].age") >= 18', True),
        ('json("$.users[-1].age") >= 18', False),
        ('json("$.obj") contains "a"', True),
        ('json("$.obj.a") == 1', True),
        ('json("$") contains "users"', True),
        ('json("$.count") in ["abc", "def"]', True),
        ('json("$.count") < "abd"', True),
        ("vars.token == 't-1'", True),
        ("vars.count == 7", True),
        ("vars.count > 6.5", True),
    ],
)
def test_operators(text: str, passed: bool) -> None:
    result = verdict(text)
    assert result.error is False, result.message
    assert result.passed is passed, result.message


def test_string_escapes() -> None:
    observed = facts(body='caf\u00e9 "quoted" back\\slash\ttab')
    for text in (
        'body contains "caf\\u00e9"',
        'body contains "\\"quoted\\""',
        "body contains 'back\\\\slash'",
        'body contains "\\ttab"',
    ):
        assert verdict(text, observed).passed, text


# ---------------------------------------------------------------------------------------------
# Strict types: every value that cannot be compared is an error that names it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('json("$.count") < 10', 'json("$.count") < 10: "abc" is a string, not a number'),
        # A JSON string stays a string even when it looks like a number.
        ('json("$.five") == 5', 'json("$.five") == 5: "5" is a string, not a number'),
        ('json("$.flag") == 1', 'json("$.flag") == 1: true is a boolean, not a number'),
        ('json("$.items") > 1', 'json("$.items") > 1: [1, 2] is a list, not a number'),
        ('json("$.obj") == "a"', 'json("$.obj") == "a": {"a": 1} is an object, not a string'),
        ('json("$.none") < 3', 'json("$.none") < 3: the value is null, not a number'),
        ('json("$.count") == true', 'json("$.count") == true: "abc" is a string, not a boolean'),
        (
            'json("$.flag") < "x"',
            'json("$.flag") < "x": true is a boolean, not a number or a string',
        ),
        ('status == "200"', 'status == "200": "200" is a string, not a number'),
        ("status == true", "status == true: true is a boolean, not a number"),
        ('headers["Server"] > 5', 'headers["Server"] > 5: "nginx" is a string, not a number'),
        ('header("X-Padded") == 42', 'header("X-Padded") == 42: " 42" is a string, not a number'),
        ('header("X-Hex") > 1', 'header("X-Hex") > 1: "0x10" is a string, not a number'),
        ('header("X-Nan") > 1', 'header("X-Nan") > 1: "NaN" is a string, not a number'),
        (
            'header("X-Underscore") > 1',
            'header("X-Underscore") > 1: "4_2" is a string, not a number',
        ),
        # Long values are shortened, never left out.
        ("body < 10", f"body < 10: {json.dumps(BODY)[:79]}… is a string, not a number"),
        ("vars.token > 1", 'vars.token > 1: "t-1" is a string, not a number'),
        ("status", "status: 200 is a number, not true or false"),
        ("body contains 5", "body contains 5: 5 is a number, not a string to look for in the text"),
        ("status contains 2", "status contains 2: 200 is a number, not text, a list or an object"),
        ('status matches "2.."', 'status matches "2..": 200 is a number, not text to match'),
        (
            'json("$.obj") contains 1',
            'json("$.obj") contains 1: 1 is a number, not a key name (a string)',
        ),
    ],
)
def test_type_errors_name_the_value(text: str, message: str) -> None:
    [result] = compile_expression(text).evaluate(facts())
    assert result.error is True
    assert result.passed is False
    assert result.expression == text
    assert result.message == message


@pytest.mark.parametrize(
    ("text", "observed", "message"),
    [
        (
            'header("X-Missing") == "a"',
            facts(headers={"Server": "nginx", "Date": "today"}),
            'header("X-Missing") == "a": header "X-Missing" is missing '
            "(the response has: date, server)",
        ),
        (
            'json("$.count") < 10',
            facts(body="<html>oops</html>", json=NOT_JSON),
            'json("$.count") < 10: the body is not JSON (it starts with "<html>oops</html>")',
        ),
        (
            'json("$.nothing") == 1',
            facts(),
            'json("$.nothing") == 1: $.nothing matched nothing in the body',
        ),
        (
            'json("$.users[?@.age > 99]") == 1',
            facts(),
            'json("$.users[?@.age > 99]") == 1: $.users[?@.age > 99] matched nothing in the body',
        ),
        (
            'vars.session == "x"',
            facts(),
            'vars.session == "x": vars.session is not set (extracted so far: count, token)',
        ),
        (
            "cert_days_left > 7",
            facts(cert_days_left=None),
            "cert_days_left > 7: there is no certificate (plain HTTP, or the handshake failed)",
        ),
        (
            "connected",
            facts(),
            "connected: connected is not available for this check",
        ),
        (
            "status == 200",
            facts(status=None),
            "status == 200: status has no value in this run",
        ),
    ],
)
def test_missing_values_are_errors(text: str, observed: dict[str, Any], message: str) -> None:
    [result] = compile_expression(text).evaluate(observed)
    assert (result.passed, result.error, result.actual) == (False, True, None)
    assert result.message == message


@pytest.mark.parametrize(
    ("header", "value", "text", "passed"),
    [
        ("Content-Length", "42", 'headers["Content-Length"] > 40', True),
        ("Content-Length", "42", 'headers["Content-Length"] == 42', True),
        ("Content-Length", "42", 'headers["Content-Length"] == "42"', True),
        ("Content-Length", "42", 'headers["Content-Length"] < 40', False),
        ("X-Float", "1e3", 'header("X-Float") == 1000', True),
        ("X-Neg", "-2.5", 'header("X-Neg") < 0', True),
        # Two strings order by code point, whatever they look like.
        ("X-Version", "10", 'header("X-Version") < "9"', True),
    ],
)
def test_numeric_text_compares_as_a_number_only_when_it_parses_exactly(
    header: str, value: str, text: str, passed: bool
) -> None:
    result = verdict(text, facts(headers={header: value}))
    assert (result.passed, result.error) == (passed, False), result.message


@pytest.mark.parametrize(
    "text",
    [
        'headers["content-type"] == "application/json"',
        'headers["CONTENT-TYPE"] == "application/json"',
        'header("Content-Type") == "application/json"',
        'header("cOnTeNt-TyPe") contains "json"',
    ],
)
def test_header_lookups_ignore_case(text: str) -> None:
    assert verdict(text).passed


def test_repeated_headers_combine_in_order() -> None:
    observed = facts(headers=[("Set-Cookie", "a=1"), ("Vary", "Accept"), ("set-cookie", "b=2")])
    result = verdict('header("Set-Cookie") == "a=1, b=2"', observed)
    assert result.passed, result.message


# ---------------------------------------------------------------------------------------------
# Regular expressions


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ('body matches "\\"count\\":\\\\s*\\"a.c\\""', True),
        ('body matches "^\\\\{"', True),
        ('body matches "^count"', False),
        ('header("Server") matches "(?i)^NGINX$"', True),
        ('header("Server") matches "^NGINX$"', False),
        ('vars.token matches "^t-\\\\d+$"', True),
    ],
)
def test_matches_searches_with_python_regex(text: str, passed: bool) -> None:
    result = verdict(text)
    assert (result.passed, result.error) == (passed, False), result.message


def test_matches_any_dns_answer() -> None:
    observed = {"dns": ["10.0.0.1", "127.0.0.1"], "response_time_ms": 3.0}
    assert verdict('dns matches "^127\\\\."', observed).passed
    assert not verdict('dns matches "^192\\\\."', observed).passed
    assert verdict('dns contains "10.0.0.1"', observed).passed
    assert verdict('"127.0.0.1" in dns', observed).passed


def test_regex_length_is_bounded() -> None:
    at_limit = "a" * MAX_REGEX_LENGTH
    compile_expression(f'body matches "{at_limit}"')
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(f'body matches "{at_limit}a"')
    assert caught.value.column == 14
    assert f"at most {MAX_REGEX_LENGTH}" in str(caught.value)


def test_invalid_regex_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression('body matches "(unclosed"')
    assert caught.value.column == 14
    assert "invalid regular expression" in caught.value.reason


# ---------------------------------------------------------------------------------------------
# Short-circuiting and three-valued logic


def test_and_stops_at_the_first_false_side() -> None:
    observed = facts(body="<html>", json=NOT_JSON)
    results = compile_expression('status == 500 && json("$.n") == 1').evaluate(observed)
    assert [r.expression for r in results] == ['status == 500 && json("$.n") == 1', "status == 500"]
    assert not results[0].error
    assert not results[0].passed


def test_or_stops_at_the_first_true_side() -> None:
    results = compile_expression('status == 200 || header("X-Nope") == "x"').evaluate(facts())
    assert [r.expression for r in results][1:] == ["status == 200"]
    assert results[0].passed


@pytest.mark.parametrize(
    ("text", "passed", "error"),
    [
        ('header("X-Nope") == "x" || status == 200', True, False),
        ('header("X-Nope") == "x" || status == 500', False, True),
        ('header("X-Nope") == "x" && status == 500', False, False),
        ('header("X-Nope") == "x" && status == 200', False, True),
        ('status == 200 && header("X-Nope") == "x"', False, True),
        ('!(header("X-Nope") == "x")', False, True),
        ('(header("X-Nope") == "x" || status == 500) || status == 200', True, False),
    ],
)
def test_errors_follow_kleene_logic(text: str, passed: bool, error: bool) -> None:
    result = verdict(text)
    assert (result.passed, result.error) == (passed, error), result.message


def test_verdict_names_the_side_that_failed() -> None:
    results = compile_expression('status == 200 && body contains "nope"').evaluate(facts())
    first, *parts = results
    assert first.expression == 'status == 200 && body contains "nope"'
    assert first.part is False
    assert first.passed is False
    assert first.message.startswith('body contains "nope" is false (got ')
    assert "status == 200" not in first.message
    assert [(p.expression, p.passed, p.part) for p in parts] == [
        ("status == 200", True, True),
        ('body contains "nope"', False, True),
    ]


def test_verdict_of_a_failed_or_names_every_side() -> None:
    first = verdict("status == 500 || status == 503")
    assert first.message == ("status == 500 is false (got 200); status == 503 is false (got 200)")
    assert first.actual == [200, 200]


def test_verdict_of_an_error_names_the_value() -> None:
    first = verdict('status == 200 && json("$.count") < 10')
    assert first.error
    assert first.message == ('json("$.count") < 10: "abc" is a string, not a number')


def test_verdict_of_a_pass_names_the_side_that_decided() -> None:
    first = verdict('header("X-Nope") == "x" || status == 200')
    assert (first.passed, first.error) == (True, False)
    assert first.message == "status == 200 is true (got 200)"


def test_negation_says_what_held() -> None:
    first = verdict("!(status == 200)")
    assert first.message == "status == 200 is true (got 200)"


def test_single_comparison_is_its_own_verdict() -> None:
    results = compile_expression("status == 200").evaluate(facts())
    assert results == [AssertionResult("status == 200", True, 200, "status == 200: got 200")]


def test_actual_is_the_observed_side() -> None:
    assert verdict("500 > status").actual == 200
    assert verdict('json("$.n") == 3').actual == 3


# ---------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("response_time_ms < 500ms", True),
        ("response_time_ms < 120ms", False),
        ("response_time_ms < 0.2s", True),
        ("response_time_ms < 2s", True),
        ("response_time_ms < 1m", True),
        ("2s > response_time_ms", True),
    ],
)
def test_durations_are_milliseconds(text: str, passed: bool) -> None:
    assert verdict(text).passed is passed


# ---------------------------------------------------------------------------------------------
# Syntax errors, with the column at fault


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "the expression is empty"),
        ("status = 200", 8, "use == to compare"),
        ("status == 200 & body", 15, "use && for and"),
        ("status == 200 | body", 15, "use || for or"),
        ("status ==", 10, "expected a value after '=='"),
        ("status == 200 &&", 17, "expected a value, found the end of the expression"),
        ("(status == 200", 15, "expected ')' to close the '(' at column 1"),
        ("status == 200)", 14, "unexpected ')'"),
        ("status == 200 status", 15, "unexpected 'status'; join comparisons with && or ||"),
        ("stauts == 200", 1, "unknown name 'stauts'"),
        ("1 == 1", 1, "this compares two constants"),
        ('"ok"', 1, '"ok" alone is a constant'),
        ("status == 2s", 11, "the duration 2s can only be compared with response_time_ms"),
        ("response_time_ms < 5h", 21, "unknown unit 'h'"),
        ('body contains "open', 15, "the string is never closed"),
        ('body contains "\\q"', 16, "unknown escape \\q"),
        ("headers.Server == 1", 8, "expected '[' after headers"),
        ('headers["Server" == 1', 18, "expected ']' after the header name"),
        ("header(Server) == 1", 8, "expected a name"),
        ('json("count") == 1', 6, "invalid JSONPath 'count'"),
        ('json("$.[") == 1', 6, "invalid JSONPath '$.['"),
        ("vars == 1", 6, "expected '.' after vars"),
        ("body matches 5", 14, "matches needs a regular expression in a string"),
        ("status in 5", 11, "in needs a list"),
        ("status in [200, status]", 17, "a list holds constants only"),
        ("status in [200 204]", 16, "expected ',' or ']'"),
        ("contains body", 1, "'contains' needs a value on its left"),
        ("status == 200 @", 15, "unexpected character '@'"),
    ],
)
def test_syntax_errors_give_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    assert caught.value.column == column, caught.value
    assert caught.value.reason.startswith(reason), caught.value.reason
    assert str(caught.value).startswith(f"column {column}: ")


def test_length_and_nesting_are_bounded() -> None:
    long = "status == 200 && " * (MAX_EXPRESSION_LENGTH // 17) + "status == 200"
    with pytest.raises(ExpressionSyntaxError, match="characters long"):
        compile_expression(long)
    deep = "!" * (MAX_NESTING + 1) + "connected"
    with pytest.raises(ExpressionSyntaxError, match="nested more than"):
        compile_expression(deep)
    compile_expression("!" * MAX_NESTING + "connected")


# ---------------------------------------------------------------------------------------------
# Other kinds of checks, and what an expression reads


def test_tcp_and_tls_facts() -> None:
    assert verdict("connected", {"connected": True}).passed
    assert not verdict("connected", {"connected": False}).passed
    assert verdict("!connected", {"connected": False}).passed
    assert verdict("cert_days_left > 14", {"cert_days_left": 20.5}).passed


def test_subjects_and_variables() -> None:
    expression = compile_expression(
        'status == 200 && (header("A") == "1" || json("$.a") == vars.b) && !(vars.c == "x")'
    )
    assert expression.subjects == {"status", "headers", "json", "vars"}
    assert expression.variables == {"b", "c"}


def test_parse_json_body() -> None:
    assert parse_json_body('{"a": [1]}') == {"a": [1]}
    assert parse_json_body("null") is None
    assert parse_json_body("<html>") is NOT_JSON
    assert parse_json_body("") is NOT_JSON
