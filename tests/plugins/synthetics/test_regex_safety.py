"""Regular expressions written by check authors: a search that backtracks without end is
stopped and reported, and every pattern `re` accepts still means what it meant to `re`."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator
from textwrap import dedent
from typing import Any

import pytest
from pydantic import ValidationError

from opsyard_synthetics.checks_file import ChecksFileError, load_checks
from opsyard_synthetics.definitions import CheckDefinition, Extraction
from opsyard_synthetics.expressions import (
    AssertionResult,
    ExpressionSyntaxError,
    compile_expression,
)
from opsyard_synthetics.extraction import ExtractionError, extract, validate_extraction
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.runner import RunResult, run_check
from opsyard_synthetics.user_regex import (
    MAX_REGEX_SUBJECT,
    REGEX_TIMEOUT_MS,
    REGEX_TIMEOUT_SECONDS,
    RegexSyntaxError,
    compile_user_regex,
    regex_deadline,
)
from tests.plugins.synthetics.target import LoopbackTarget

# `(a+)+$` tries every way of splitting the run of a's before it gives up at the "!": with
# Python's `re` this search takes longer than anyone would wait.
RUNAWAY = "(a+)+$"
RUNAWAY_BODY = "a" * 100_000 + "!"
# Stopped well past the timeout but long before the minutes the search would take.
PROMPTLY = 1.0


def evaluate(text: str, **facts: Any) -> tuple[AssertionResult, float]:
    started = time.monotonic()
    results = compile_expression(text).evaluate(facts)
    return results[0], time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# Assertions


def test_a_runaway_match_is_an_assertion_error_naming_the_pattern() -> None:
    text = f'body matches "{RUNAWAY}"'
    result, elapsed = evaluate(text, body=RUNAWAY_BODY)
    assert elapsed < PROMPTLY
    assert (result.passed, result.error) == (False, True)
    assert result.message.startswith(
        f'{text}: the regular expression "{RUNAWAY}" took longer than {REGEX_TIMEOUT_MS} ms '
        "and was stopped; simplify the pattern"
    )


def test_one_budget_covers_every_text_a_comparison_searches() -> None:
    # Twenty answers that each take the whole timeout: the target chooses how many there are.
    answers = ["x" * 5000] * 20
    result, elapsed = evaluate('dns matches "(x+x+)+y"', dns=answers)
    assert result.error
    assert "took longer than" in result.message
    assert elapsed < REGEX_TIMEOUT_SECONDS * 5


def test_a_runaway_match_follows_the_three_valued_logic() -> None:
    observed = {"body": RUNAWAY_BODY, "status": 200}
    either, _ = evaluate(f'body matches "{RUNAWAY}" || status == 200', **observed)
    both, _ = evaluate(f'body matches "{RUNAWAY}" && status == 200', **observed)
    assert (either.passed, either.error) == (True, False)
    assert (both.passed, both.error) == (False, True)
    assert f'the regular expression "{RUNAWAY}" took longer than' in both.message


def test_an_ordinary_pattern_searches_a_whole_large_body_within_the_timeout() -> None:
    items = ",".join(f'{{"id": {n}, "state": "paid"}}' for n in range(33_000))
    body = f'{{"items": [{items}]}}'
    assert 0.9 * MAX_REGEX_SUBJECT < len(body) <= MAX_REGEX_SUBJECT
    # Each of these reads the body to its end before it can answer.
    patterns = {
        '"id": 32999, ': True,
        '(?i)"STATE": "REFUNDED"': False,
        r"\]\}$": True,
        r'"id": \d+, "state": "(?:refunded|void)"': False,
    }
    for pattern, passed in patterns.items():
        result, elapsed = evaluate(f"body matches {_quoted(pattern)}", body=body)
        assert (result.passed, result.error) == (passed, False), (pattern, result.message)
        assert elapsed < REGEX_TIMEOUT_SECONDS


def _quoted(pattern: str) -> str:
    return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Extraction


def test_a_runaway_extraction_is_an_extraction_error_naming_the_pattern() -> None:
    rule = Extraction(source="regex", expression=RUNAWAY)
    started = time.monotonic()
    with pytest.raises(ExtractionError) as caught:
        extract(rule, headers={}, body=RUNAWAY_BODY, json_value=None)
    assert time.monotonic() - started < PROMPTLY
    assert str(caught.value).startswith(
        f"the regex '{RUNAWAY}' took longer than {REGEX_TIMEOUT_MS} ms on the body and was "
        "stopped; simplify the pattern"
    )


def test_extraction_still_takes_the_group_or_the_whole_match() -> None:
    body = '{"token": "t-42", "path": "/users/{id}"}'
    taken = {
        r'"token": "([^"]+)"': "t-42",
        r"/users/{id}": "/users/{id}",
        r"t-(\d+)": "42",
    }
    for pattern, value in taken.items():
        rule = Extraction(source="regex", expression=pattern)
        assert extract(rule, headers={}, body=body, json_value=None) == value


# ---------------------------------------------------------------------------------------------
# The same patterns mean the same thing


# Each pattern is valid for `re`, which reads it differently from the `regex` engine's own
# re-compatible mode: literal braces, `[` inside a set, comments with escaped ends.
RE_READINGS = [
    ("/users/{id}", "GET /users/{id}", "/users/{id}"),
    ("{error}", 'msg: "{error}"', "{error}"),
    ("x{d}", "x{d}", "x{d}"),
    ("a{e<=1}", "ba{e<=1}", "a{e<=1}"),
    ("a{1,2}{", "aa{", "aa{"),
    ("[[:digit:]]+", "7 t]]", "t]]"),
    ("(?x) a b  # a comment with { and [[:alpha:]] \\\n c", "abc", "ab"),
    ("a(?#a comment \\) that goes on)b", "ab", "ab"),
    ("\\N{DIGIT ONE}{2}", "x11", "11"),
    ("[]a]+", "x]a]", "]a]"),
    ("a{,2}b", "aaab", "aab"),
]


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize(("pattern", "text", "found"), RE_READINGS)
def test_patterns_mean_what_they_mean_to_re(pattern: str, text: str, found: str) -> None:
    expected = re.search(pattern, text)
    assert expected is not None and expected.group() == found
    match = compile_user_regex(pattern).search(text, deadline=regex_deadline())
    assert match is not None and match.group() == found


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_random_patterns_match_exactly_as_with_re() -> None:
    # Patterns built from the pieces where the two readings could differ, each compared with
    # `re` on texts that hold those pieces.
    pieces = [
        "a", "b", "1", "0", ",", "-", ":", "^", "$", "|", ".", "?", "*", "+", "e", "i", "d",
        "s", "<", "=", " ", "\n", "#", "(", ")", "[", "]", "{", "}", "\\", "\\d", "\\w", "\\b",
        "\\1", "\\)", "\\[", "\\{", "\\ ", "\\\n", "(?:", "(?i)", "(?x)", "(?x:", "(?-x:",
        "(?#", "(?P<g>", "(?P=g)", "(?(1)", "(?>", "(?=", "(?<=", "[:alpha:]", "{1}", "{,2}",
        "{1,}", "{e<=1}", "{id}", "&&", "--", "\\N{DIGIT ONE}",
    ]  # fmt: skip
    texts = ["", "a", "ab", "b1", "aa2", "x:y", "{1,2}", "[a]", "AbE12 x", "a{e<=1}", "((",
             "\n", " ", "{id}", "#", "{", "}", "aaa", "<", "0", "[]", "{}"]  # fmt: skip
    generator = random.Random(20240501)
    compared = 0
    while compared < 1500:
        pattern = "".join(generator.choices(pieces, k=generator.randint(1, 10)))
        try:
            reference = re.compile(pattern)
        except re.error:
            continue
        compared += 1
        ours = compile_user_regex(pattern)
        for text in [*texts, pattern]:
            expected = reference.search(text)
            got = ours.search(text, deadline=regex_deadline())
            assert (got and (got.span(), got.groups())) == (
                expected and (expected.span(), expected.groups())
            ), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        # Valid for the `regex` engine, not for `re`: still refused, with `re`'s reason.
        ("\\p{L}", "bad escape \\p at position 0"),
        ("(?<=a+)b", "look-behind requires fixed-width pattern"),
        ("(?V1)a", "unknown extension ?V at position 1"),
        ("(?|a|b)", "unknown extension ?| at position 1"),
        ("(unclosed", "missing ), unterminated subpattern at position 0"),
    ],
)
def test_patterns_re_refuses_are_refused_everywhere(pattern: str, reason: str) -> None:
    with pytest.raises(RegexSyntaxError, match=re.escape(reason)):
        compile_user_regex(pattern)
    with pytest.raises(ExpressionSyntaxError, match=re.escape(reason)):
        compile_expression(f"body matches {_quoted(pattern)}")
    with pytest.raises(ExtractionError, match=re.escape(f"invalid regex {pattern!r}: {reason}")):
        validate_extraction("regex", pattern)
    with pytest.raises(ValidationError, match=re.escape(reason)):
        http_check("https://shop.example.test/", f"body matches {_quoted(pattern)}")


def test_a_checks_file_with_a_pattern_re_refuses_is_refused_at_its_line() -> None:
    text = dedent(
        """\
        version: 1
        checks:
          - name: orders
            kind: flow
            steps:
              - name: list
                url: https://shop.example.test/orders
                assertions: ['body matches "\\\\p{L}"']
                extract:
                  first: {source: regex, expression: "(?<=a+)b"}
        """
    )
    with pytest.raises(ChecksFileError) as caught:
        load_checks(text)
    assertion, extraction = caught.value.problems
    assert assertion.line == 8 and "bad escape \\p at position 0" in assertion.message
    assert extraction.line == 10
    assert "look-behind requires fixed-width pattern" in extraction.message


# ---------------------------------------------------------------------------------------------
# The runner


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


def http_check(url: str, *assertions: str, **step: Any) -> CheckDefinition:
    return CheckDefinition.model_validate(
        {
            "name": "runaway",
            "kind": "http",
            "steps": [{"url": url, "assertions": list(assertions), **step}],
        }
    )


async def run(definition: CheckDefinition) -> RunResult:
    return await run_check(
        definition, location="eu-west", secrets={}, client=ProbeClient(location="eu-west")
    )


def test_a_runaway_assertion_fails_the_check_promptly(target: LoopbackTarget) -> None:
    target.set_location("eu-west", body=RUNAWAY_BODY, headers={"Content-Type": "text/plain"})
    started = time.monotonic()
    result = asyncio.run(run(http_check(target.url("/"), f'body matches "{RUNAWAY}"')))
    assert time.monotonic() - started < PROMPTLY
    assert result.outcome == "failing"
    assert result.reason == (
        f"step 'request': assertion error: body matches \"{RUNAWAY}\": the regular expression "
        f'"{RUNAWAY}" took longer than {REGEX_TIMEOUT_MS} ms and was stopped; simplify the '
        "pattern: a repeat inside a repeat, such as (a+)+ or (.*,)*, can try exponentially "
        "many ways to match"
    )


def test_a_runaway_extraction_fails_the_step_promptly(target: LoopbackTarget) -> None:
    target.set_location("eu-west", body=RUNAWAY_BODY, headers={"Content-Type": "text/plain"})
    definition = http_check(
        target.url("/"), extract={"tail": {"source": "regex", "expression": RUNAWAY}}
    )
    started = time.monotonic()
    result = asyncio.run(run(definition))
    assert time.monotonic() - started < PROMPTLY
    assert result.outcome == "failing"
    assert result.reason is not None
    assert result.reason.startswith(
        f"step 'request': could not extract 'tail': the regex '{RUNAWAY}' took longer than "
        f"{REGEX_TIMEOUT_MS} ms on the body and was stopped"
    )


def test_a_runaway_check_barely_delays_the_checks_sharing_its_loop(
    target: LoopbackTarget,
) -> None:
    target.set_location("eu-west", body=RUNAWAY_BODY, headers={"Content-Type": "text/plain"})
    runaway = http_check(target.url("/"), f'body matches "{RUNAWAY}"')
    healthy = http_check(target.url("/status/204"), "status == 204")

    async def both() -> tuple[RunResult, RunResult, float]:
        loop = asyncio.get_running_loop()
        longest_wait = 0.0
        finished = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal longest_wait
            while not finished.is_set():
                before = loop.time()
                await asyncio.sleep(0.005)
                longest_wait = max(longest_wait, loop.time() - before)

        beating = asyncio.create_task(heartbeat())
        results = await asyncio.gather(run(runaway), run(healthy))
        finished.set()
        await beating
        return results[0], results[1], longest_wait

    stalled, fine, longest_wait = asyncio.run(both())
    assert stalled.outcome == "failing"
    assert fine.outcome == "ok"
    # The loop is held for one timeout, not for the minutes the search would take.
    assert longest_wait < REGEX_TIMEOUT_SECONDS * 5
