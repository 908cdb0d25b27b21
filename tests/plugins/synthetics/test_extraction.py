"""Values a flow step extracts for later steps, and the placeholders that use them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from opsyard_synthetics.definitions import Extraction
from opsyard_synthetics.expressions import NOT_JSON, parse_json_body
from opsyard_synthetics.extraction import ExtractionError, extract, validate_extraction
from opsyard_synthetics.templating import (
    TemplateError,
    placeholders,
    render,
    secret_names,
    template_variables,
)
from opsyard_synthetics.user_regex import MAX_REGEX_LENGTH

TOKEN_BODY = (
    '{"access_token": "eyJ.abc", "expires_in": 3600, "admin": false, "scope": null,'
    ' "ids": [4, 5], "user": {"id": 9, "name": "Zoë"}, "empty": ""}'
)
HEADERS = {"Location": "/orders/17", "X-Request-Id": "req-1", "Content-Type": "text/plain"}


def run(source: str, expression: str, body: str = TOKEN_BODY, headers: Any = None) -> str:
    rule = Extraction(source=source, expression=expression)
    return extract(
        rule,
        headers=HEADERS if headers is None else headers,
        body=body,
        json_value=parse_json_body(body),
    )


@pytest.mark.parametrize(
    ("source", "expression", "value"),
    [
        ("jsonpath", "$.access_token", "eyJ.abc"),
        ("jsonpath", "$['access_token']", "eyJ.abc"),
        # Non-strings keep their JSON spelling.
        ("jsonpath", "$.expires_in", "3600"),
        ("jsonpath", "$.admin", "false"),
        ("jsonpath", "$.ids", "[4,5]"),
        ("jsonpath", "$.ids[1]", "5"),
        ("jsonpath", "$.user", '{"id":9,"name":"Zoë"}'),
        ("jsonpath", "$.user.name", "Zoë"),
        ("jsonpath", "$.empty", ""),
        ("header", "Location", "/orders/17"),
        ("header", "location", "/orders/17"),
        ("header", "X-REQUEST-ID", "req-1"),
        # One group takes the group, no group takes the whole match.
        ("regex", '"access_token": "([^"]+)"', "eyJ.abc"),
        ("regex", r"\d{4}", "3600"),
        ("regex", r'"expires_in": (?:\d+)', '"expires_in": 3600'),
        ("regex", r"(?i)ZOË", "Zoë"),
    ],
)
def test_extracts_one_value(source: str, expression: str, value: str) -> None:
    assert run(source, expression) == value


@pytest.mark.parametrize(
    ("source", "expression", "body", "message"),
    [
        ("jsonpath", "$.missing", TOKEN_BODY, "$.missing matched nothing in the body"),
        ("jsonpath", "$.ids[*]", TOKEN_BODY, "$.ids[*] matched 2 values; select exactly one"),
        ("jsonpath", "$.scope", TOKEN_BODY, "$.scope is null in the body"),
        ("jsonpath", "$.token", "<html>", "$.token: the body is not JSON"),
        (
            "header",
            "Set-Cookie",
            TOKEN_BODY,
            'header "Set-Cookie" is missing (the response has: content-type, location, '
            "x-request-id)",
        ),
        (
            "regex",
            "token=(\\w+)",
            TOKEN_BODY,
            "the regex 'token=(\\\\w+)' matched nothing in the body",
        ),
        ("regex", "(a)|b", "b", "the group of the regex '(a)|b' took no part in the match"),
    ],
)
def test_missing_values_are_errors(source: str, expression: str, body: str, message: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        run(source, expression, body)
    assert str(caught.value) == message


def test_repeated_headers_combine() -> None:
    headers = [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Vary", "Accept")]
    assert run("header", "Set-Cookie", headers=headers) == "a=1, b=2"


def test_not_json_sentinel_is_refused_even_with_a_json_looking_body() -> None:
    rule = Extraction(source="jsonpath", expression="$.a")
    with pytest.raises(ExtractionError, match="not JSON"):
        extract(rule, headers={}, body='{"a": 1}', json_value=NOT_JSON)


@pytest.mark.parametrize(
    ("source", "expression", "message"),
    [
        ("jsonpath", "access_token", "invalid JSONPath 'access_token'"),
        ("jsonpath", "$.[", "invalid JSONPath '$.['"),
        ("regex", "(open", "invalid regex '(open'"),
        ("regex", "(a)(b)", "the regex '(a)(b)' has 2 groups; use one group"),
        ("regex", "x" * (MAX_REGEX_LENGTH + 1), f"at most {MAX_REGEX_LENGTH} are allowed"),
        ("header", "X Bad", "'X Bad' is not a header name"),
        ("header", "X-Bad:", "'X-Bad:' is not a header name"),
    ],
)
def test_rules_that_can_never_work_are_refused(source: str, expression: str, message: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        validate_extraction(source, expression)
    assert message in str(caught.value)
    # The model refuses them too, so neither the API nor a checks file can store one.
    with pytest.raises(ValidationError) as invalid:
        Extraction(source=source, expression=expression)
    assert message in str(invalid.value)


def test_regex_at_the_length_limit_is_accepted() -> None:
    validate_extraction("regex", "x" * MAX_REGEX_LENGTH)


# ---------------------------------------------------------------------------------------------
# Placeholders


def test_render_fills_variables_and_secrets() -> None:
    variables = template_variables(
        extracted={"token": "eyJ.abc", "order": "17"}, secrets={"API_KEY": "s3cr3t"}
    )
    assert variables == {"token": "eyJ.abc", "order": "17", "secrets.API_KEY": "s3cr3t"}
    assert render("Bearer {{ token }}", variables) == "Bearer eyJ.abc"
    assert render("/orders/{{order}}?key={{  secrets.API_KEY  }}", variables) == (
        "/orders/17?key=s3cr3t"
    )
    assert render("no placeholders", variables) == "no placeholders"
    assert render("{{ token }}{{ token }}", variables) == "eyJ.abceyJ.abc"
    # A value that looks like a placeholder is not expanded again.
    assert render("{{ token }}", {"token": "{{ order }}"}) == "{{ order }}"


@pytest.mark.parametrize(
    ("text", "variables", "message"),
    [
        (
            "Bearer {{ tokn }}",
            {"token": "x"},
            "unknown variable 'tokn' in a placeholder (known: token)",
        ),
        (
            "{{ secrets.KEY }}",
            {"secrets.API_KEY": "v", "token": "x"},
            "unknown secret 'secrets.KEY' in a placeholder (known: secrets.API_KEY)",
        ),
        ("{{ a }}", {}, "unknown variable 'a' in a placeholder (known: none)"),
    ],
)
def test_unknown_names_are_errors_never_empty(
    text: str, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        render(text, variables)
    assert str(caught.value) == message


def test_errors_never_show_secret_values() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ secrets.OTHER }}", {"secrets.API_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Bearer {{ token", "the placeholder at character 8 is never closed"),
        ("{{ }}", "'{{ }}' is not a placeholder"),
        ("{{ a b }}", "'{{ a b }}' is not a placeholder"),
        ("{{ secrets. }}", "'{{ secrets. }}' is not a placeholder"),
        ("{{ vars.token }}", "'{{ vars.token }}' is not a placeholder"),
        ("{{ 1a }}", "'{{ 1a }}' is not a placeholder"),
    ],
)
def test_malformed_placeholders(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        placeholders(text)
    assert str(caught.value).startswith(message)


def test_placeholder_names() -> None:
    text = "{{ a }}/{{secrets.K1}}/{{ b_2 }}/{{ secrets.K2 }}"
    assert placeholders(text) == ["a", "secrets.K1", "b_2", "secrets.K2"]
    assert secret_names(text) == ["K1", "K2"]
    assert placeholders("plain { text } }}") == []
