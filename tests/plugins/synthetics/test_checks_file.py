"""Checks as code: YAML files refused whole with the line at fault, written back, and diffed."""

from __future__ import annotations

from textwrap import dedent

import pytest

from opsyard_synthetics.checks_file import (
    ChecksFileError,
    ChecksFileProblem,
    check_problems,
    diff_checks,
    dump_checks,
    load_checks,
)
from opsyard_synthetics.definitions import (
    BearerAuth,
    CheckDefinition,
    ChecksFile,
    Extraction,
    HttpStep,
    OAuth2ClientCredentials,
    Quorum,
    TcpTarget,
    Thresholds,
)

VALID = dedent(
    """\
    version: 1
    checks:
      - name: checkout-api
        kind: http
        critical: true
        locations: [eu-west, us-east, ap-south]
        quorum: {failing: 2, of: 3}
        thresholds: {degraded_ms: 800, failing_ms: 2000}
        secrets: [API_KEY]
        steps:
          - url: https://shop.example.test/health
            headers:
              X-Api-Key: "{{ secrets.API_KEY }}"
            assertions:
              - status == 200
              - response_time_ms < 1s && body contains "ok"
      - name: login-flow
        kind: flow
        depends_on: checkout-api
        secrets: [CLIENT_SECRET]
        steps:
          - name: token
            method: POST
            url: https://auth.example.test/token
            auth:
              type: oauth2_client_credentials
              token_url: https://auth.example.test/oauth/token
              client_id: portal
              client_secret: "{{ secrets.CLIENT_SECRET }}"
            json_body:
              grant: client_credentials
              tags: ["{{ secrets.CLIENT_SECRET }}"]
            extract:
              token: {source: jsonpath, expression: $.access_token}
              request_id: {source: header, expression: X-Request-Id}
            assertions:
              - status == 200 && vars.token matches "^eyJ"
          - name: orders
            url: https://api.example.test/orders
            follow_redirects: false
            timeout_s: 5
            thresholds: {failing_ms: 1500}
            headers:
              Authorization: "Bearer {{ token }}"
              X-Request-Id: "{{ request_id }}"
            body: |
              first line
              second line
            assertions:
              - json("$.orders[*].id") contains 17
      - name: postgres
        kind: tcp
        interval_seconds: 60
        tcp: {host: db.example.test, port: 5432}
        assertions: [connected]
      - name: resolver
        kind: dns
        dns: {name: shop.example.test, record_type: AAAA}
        assertions: ['dns contains "::1"']
      - name: shop-cert
        kind: tls
        tls: {host: shop.example.test}
        assertions: [cert_days_left > 14]
    """
)


def problems_of(text: str) -> list[ChecksFileProblem]:
    with pytest.raises(ChecksFileError) as caught:
        load_checks(text)
    return caught.value.problems


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the first line holding `fragment`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def only_check(body: str) -> str:
    """A checks file holding one check, written at list-entry indentation."""
    return "version: 1\nchecks:\n" + dedent(body)


# ---------------------------------------------------------------------------------------------
# A valid file


def test_valid_file_loads_every_kind() -> None:
    loaded = load_checks(VALID)
    names = [check.name for check in loaded.checks]
    assert names == ["checkout-api", "login-flow", "postgres", "resolver", "shop-cert"]
    api, flow, tcp, dns, tls = loaded.checks
    assert api.quorum == Quorum(failing=2, of=3)
    assert api.thresholds == Thresholds(degraded_ms=800, failing_ms=2000)
    assert api.steps[0].name == "request"
    assert api.steps[0].headers == {"X-Api-Key": "{{ secrets.API_KEY }}"}
    assert api.interval_seconds == 300
    assert isinstance(flow.steps[0].auth, OAuth2ClientCredentials)
    assert flow.steps[0].extract["token"] == Extraction(
        source="jsonpath", expression="$.access_token"
    )
    assert flow.steps[1].follow_redirects is False
    assert flow.steps[1].body == "first line\nsecond line\n"
    assert flow.depends_on == "checkout-api"
    assert tcp.tcp == TcpTarget(host="db.example.test", port=5432)
    assert tcp.interval_seconds == 60
    assert dns.dns is not None and dns.dns.record_type == "AAAA"
    assert tls.tls is not None and tls.tls.port == 443


# ---------------------------------------------------------------------------------------------
# YAML errors, with their line


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("", 1, 1, "the file is empty"),
        ("# only a comment\n", 1, 1, "the file is empty"),
        ("checks: [\n  {name: a,\n", 3, 1, "YAML: while parsing a flow"),
        ("version: 1\nchecks:\n  - name: a\n   kind: tcp\n", 4, 4, "YAML: while parsing"),
        ("version: 1\nchecks:\n\t- name: a\n", 3, 1, "YAML: "),
        ("version: 1\n---\nversion: 1\n", 2, 1, "YAML: "),
        ('version: 1\nchecks:\n  - name: "a\n', 4, 1, "YAML: while scanning a quoted scalar"),
        ("version: 1\nchecks: !!python/object:os.system {}\n", 2, 9, "YAML: the tag"),
        ("version: 1\nchecks: !!python/name:os.system x\n", 2, 9, "YAML: could not determine"),
        ("version: 1\nchecks: !!set {a: null}\n", 2, 9, "YAML: the tag"),
        ("version: 1\nchecks: *nowhere\n", 2, 9, "YAML: found undefined alias"),
    ],
)
def test_yaml_errors_give_their_line(text: str, line: int, column: int, message: str) -> None:
    [problem] = problems_of(text)
    assert (problem.line, problem.column) == (line, column), problem
    assert problem.message.startswith(message), problem.message


def test_repeated_keys_are_refused_not_overwritten() -> None:
    text = only_check(
        """\
        - name: a
          kind: tcp
          tcp: {host: db, port: 5432}
          kind: dns
        """
    )
    [problem] = problems_of(text)
    assert (problem.line, problem.column, problem.field) == (6, 3, "checks[0].kind")
    assert problem.message == "'kind' is repeated"


def test_merge_keys_and_self_referring_aliases_are_refused() -> None:
    merged = "base: &base {host: db, port: 1}\nchecks:\n  - <<: *base\n"
    [problem] = problems_of(merged)
    assert (problem.line, problem.message) == (3, "merge keys (<<) are not supported")
    # The composed alias is the anchored node itself, so the anchor's line is reported.
    recursive = "version: 1\nchecks: &loop\n  - *loop\n"
    [problem] = problems_of(recursive)
    assert (problem.line, problem.message) == (2, "an alias refers to itself")


def test_files_over_a_mebibyte_are_refused() -> None:
    [problem] = problems_of("# " + "x" * 1024 * 1024)
    assert problem.message == "the file is larger than 1024 KiB"


# ---------------------------------------------------------------------------------------------
# Field validation, mapped back to the line of the key


@pytest.mark.parametrize(
    ("body", "marker", "field", "message"),
    [
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 5432}
              intervall_seconds: 60
            """,
            "intervall_seconds",
            "checks[0].intervall_seconds",
            "unknown field 'intervall_seconds'",
        ),
        (
            """\
            - name: Bad_Name
              kind: tcp
              tcp: {host: db, port: 5432}
            """,
            "Bad_Name",
            "checks[0].name",
            "String should match pattern",
        ),
        (
            """\
            - name: a
              kind: smtp
            """,
            "smtp",
            "checks[0].kind",
            "Input should be 'http', 'flow', 'tcp', 'dns' or 'tls'",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp:
                host: db
                port: 70000
            """,
            "70000",
            "checks[0].tcp.port",
            "Input should be less than or equal to 65535",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp:
                host: db
            """,
            "tcp:",
            "checks[0].tcp.port",
            "'port' is required",
        ),
        (
            """\
            - kind: tcp
              tcp: {host: db, port: 1}
            """,
            "- kind: tcp",
            "checks[0].name",
            "'name' is required",
        ),
        (
            """\
            - name: a
              kind: http
              steps: []
            """,
            "- name: a",
            "checks[0]",
            "an http check has exactly one step",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
              dns: {name: db}
            """,
            "- name: a",
            "checks[0]",
            "`dns` belongs to dns checks, not to tcp",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  auth:
                    type: bearer
                    token: abc
                    tokn: abc
            """,
            "tokn",
            "checks[0].steps[0].auth.tokn",
            "unknown field 'tokn'",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  auth:
                    type: digest
            """,
            "type: digest",
            "checks[0].steps[0].auth.type",
            "Input tag 'digest' found using 'type' does not match",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  auth: {token: abc}
            """,
            "auth:",
            "checks[0].steps[0].auth.type",
            "'type' is required",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: ftp://x.test/
            """,
            "- url: ftp",
            "checks[0].steps[0]",
            "url must start with http:// or https://",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  extract:
                    bad name: {source: header, expression: X-A}
            """,
            "bad name",
            "checks[0].steps[0].extract.bad name",
            "String should match pattern",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  extract:
                    token:
                      source: jsonpath
                      expression: access_token
            """,
            "token:",
            "checks[0].steps[0].extract.token",
            "invalid JSONPath 'access_token'",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  assertions:
                    - status == 200
                    - status = 200
            """,
            "status = 200",
            "checks[0].steps[0].assertions[1]",
            "status = 200: column 8: use == to compare",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
              depends_on: a
            """,
            "- name: a",
            "checks[0]",
            "a check cannot depend on itself",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
              quorum: {failing: 3, of: 2}
            """,
            "quorum:",
            "checks[0].quorum",
            "failing must not be greater than of",
        ),
    ],
)
def test_validation_errors_point_at_the_key(
    body: str, marker: str, field: str, message: str
) -> None:
    text = only_check(body)
    problems = problems_of(text)
    assert [(p.line, p.field) for p in problems] == [(line_of(text, marker), field)], problems
    assert message in problems[0].message


def test_header_values_must_be_text() -> None:
    text = only_check(
        """\
        - name: a
          kind: http
          steps:
            - url: https://x.test/
              headers:
                X-Retries: 3
        """
    )
    [problem] = problems_of(text)
    assert (problem.line, problem.field) == (8, "checks[0].steps[0].headers.X-Retries")
    assert problem.pointer == "/checks/0/steps/0/headers/X-Retries"
    assert problem.message == "Input should be a valid string"


def test_a_file_that_is_not_a_mapping() -> None:
    [problem] = problems_of("- name: a\n")
    assert (problem.line, problem.field) == (1, "")
    assert "valid dictionary" in problem.message


def test_version_must_be_one() -> None:
    [problem] = problems_of("version: 2\nchecks: []\n")
    assert (problem.line, problem.field, problem.message) == (1, "version", "Input should be 1")


# ---------------------------------------------------------------------------------------------
# Problems across fields and checks


@pytest.mark.parametrize(
    ("body", "marker", "field", "message"),
    [
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
            - name: a
              kind: dns
              dns: {name: db}
            """,
            "- name: a\n  kind: dns",
            "checks[1].name",
            "the name 'a' is used twice",
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
              depends_on: ghost
            """,
            "depends_on",
            "checks[0].depends_on",
            "there is no check named 'ghost'",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  headers:
                    X-Key: "{{ secrets.KEY }}"
            """,
            "X-Key",
            "checks[0].steps[0].headers.X-Key",
            "unknown secret 'KEY'; list it in the check's secrets (listed: none)",
        ),
        (
            """\
            - name: a
              kind: http
              secrets: [API_KEY]
              steps:
                - url: https://x.test/?k={{ secrets.APIKEY }}
            """,
            "url:",
            "checks[0].steps[0].url",
            "unknown secret 'APIKEY'; list it in the check's secrets (listed: API_KEY)",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  auth: {type: basic, username: me, password: "{{ secrets.PW }}"}
            """,
            "auth:",
            "checks[0].steps[0].auth.password",
            "unknown secret 'PW'",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  json_body:
                    items:
                      - id: "{{ secrets.ID }}"
            """,
            "id:",
            "checks[0].steps[0].json_body.items[0].id",
            "unknown secret 'ID'",
        ),
        (
            """\
            - name: a
              kind: http
              steps:
                - url: https://x.test/
                  body: "token={{ token"
            """,
            "body:",
            "checks[0].steps[0].body",
            "the placeholder at character 7 is never closed",
        ),
        (
            """\
            - name: a
              kind: flow
              steps:
                - name: first
                  url: https://x.test/{{ token }}
                - name: second
                  url: https://x.test/
                  extract:
                    token: {source: header, expression: X-Token}
            """,
            "x.test/{{ token }}",
            "checks[0].steps[0].url",
            "unknown variable 'token'; no earlier step extracts it (extracted: none)",
        ),
        (
            """\
            - name: a
              kind: flow
              steps:
                - name: first
                  url: https://x.test/
                  assertions: ['vars.session == "x"']
            """,
            "vars.session",
            "checks[0].steps[0].assertions[0]",
            'vars.session == "x": vars.session is not extracted by this or an earlier step',
        ),
        (
            """\
            - name: a
              kind: tcp
              tcp: {host: db, port: 1}
              assertions:
                - connected && status == 200
            """,
            "connected &&",
            "checks[0].assertions[0]",
            "connected && status == 200: a tcp check has no status",
        ),
        (
            """\
            - name: a
              kind: tcp
              locations: [eu, us]
              quorum: {failing: 2, of: 3}
              tcp: {host: db, port: 1}
            """,
            "of: 3",
            "checks[0].quorum.of",
            "quorum of 3 but only 2 locations are listed",
        ),
    ],
)
def test_cross_field_problems(body: str, marker: str, field: str, message: str) -> None:
    text = only_check(body)
    problems = problems_of(text)
    # A marker over two lines stands for the line where it starts.
    line = text[: text.index(marker)].count("\n") + 1
    assert [(p.line, p.field) for p in problems] == [(line, field)], problems
    assert problems[0].message.startswith(message), problems[0].message


def test_dependency_cycles_are_reported_once() -> None:
    text = only_check(
        """\
        - name: a
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: c
        - name: b
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: a
        - name: c
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: b
        - name: d
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: a
        - name: x
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: y
        - name: y
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: x
        """
    )
    problems = problems_of(text)
    assert [(p.line, p.field, p.message) for p in problems] == [
        (6, "checks[0].depends_on", "dependency cycle: a -> c -> b -> a"),
        (22, "checks[4].depends_on", "dependency cycle: x -> y -> x"),
    ]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = only_check(
        """\
        - name: a
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: ghost
        - name: b
          kind: tcp
          tcp: {host: db}
        - name: c
          kind: http
          steps:
            - url: https://x.test/{{ secrets.K }}
        - name: d
          kind: http
          steps:
            - url: https://x.test/
              assertions: [status =! 200]
        """
    )
    problems = problems_of(text)
    assert [(p.line, p.field) for p in problems] == [
        (6, "checks[0].depends_on"),
        (9, "checks[1].tcp.port"),
        (13, "checks[2].steps[0].url"),
        (18, "checks[3].steps[0].assertions[0]"),
    ]
    rendered = str(ChecksFileError(problems))
    assert rendered.splitlines()[0] == (
        "line 6, column 3: checks[0].depends_on: there is no check named 'ghost'"
    )


def test_depending_on_an_invalid_check_is_not_a_second_problem() -> None:
    text = only_check(
        """\
        - name: a
          kind: tcp
          tcp: {host: db}
        - name: b
          kind: tcp
          tcp: {host: db, port: 1}
          depends_on: a
        """
    )
    assert [p.field for p in problems_of(text)] == ["checks[0].tcp.port"]


def test_check_problems_for_a_single_definition() -> None:
    check = CheckDefinition(
        name="api",
        kind="http",
        steps=[HttpStep(url="https://x.test/", auth=BearerAuth(type="bearer", token="{{ t }}"))],
    )
    [problem] = check_problems(check)
    assert problem.pointer == "/steps/0/auth/token"
    assert problem.message == "unknown variable 't'; no earlier step extracts it (extracted: none)"
    assert check_problems(load_checks(VALID).checks[1]) == []


# ---------------------------------------------------------------------------------------------
# Writing a file back


def test_dump_round_trips() -> None:
    loaded = load_checks(VALID)
    dumped = dump_checks(loaded)
    assert load_checks(dumped) == loaded
    assert dump_checks(load_checks(dumped)) == dumped


def test_dump_omits_defaults_and_keeps_the_version() -> None:
    checks = ChecksFile(
        checks=[
            CheckDefinition(
                name="db", kind="tcp", tcp=TcpTarget(host="db.example.test", port=5432)
            ),
            CheckDefinition(
                name="api",
                kind="http",
                interval_seconds=60,
                steps=[HttpStep(url="https://x.test/", follow_redirects=False, body="a\nb\n")],
            ),
        ]
    )
    assert dump_checks(checks) == dedent(
        """\
        version: 1
        checks:
        - name: db
          kind: tcp
          tcp:
            host: db.example.test
            port: 5432
        - name: api
          kind: http
          interval_seconds: 60
          steps:
          - url: https://x.test/
            body: |
              a
              b
            follow_redirects: false
        """
    )
    assert load_checks(dump_checks(checks)) == checks


def test_dump_quotes_values_that_yaml_would_misread() -> None:
    check = CheckDefinition(
        name="api",
        kind="http",
        steps=[
            HttpStep(
                url="https://x.test/",
                headers={"X-Flag": "yes", "X-Num": "012", "X-Null": "null"},
                assertions=['body contains "a: b"', "status == 200"],
            )
        ],
    )
    checks = ChecksFile(checks=[check])
    assert load_checks(dump_checks(checks)) == checks


def test_empty_file_round_trips() -> None:
    assert dump_checks(ChecksFile()) == "version: 1\nchecks: []\n"
    assert load_checks("version: 1\nchecks: []\n") == ChecksFile()


# ---------------------------------------------------------------------------------------------
# Diffing against what is stored


def _tcp(name: str, port: int = 5432, **fields: object) -> CheckDefinition:
    return CheckDefinition.model_validate(
        {"name": name, "kind": "tcp", "tcp": {"host": "db", "port": port}, **fields}
    )


def test_diff_sorts_checks_into_created_changed_removed_unchanged() -> None:
    current = {
        "same": _tcp("same"),
        "moved": _tcp("moved", 5432),
        "gone": _tcp("gone"),
        "tuned": _tcp("tuned"),
    }
    desired = ChecksFile(
        checks=[
            _tcp("tuned", critical=True, thresholds={"failing_ms": 200}),
            _tcp("new"),
            _tcp("same"),
            _tcp("moved", 6432),
        ]
    )
    diff = diff_checks(current, desired)
    assert [c.name for c in diff.created] == ["new"]
    assert [(c.name, c.fields) for c in diff.changed] == [
        ("moved", ["tcp"]),
        ("tuned", ["critical", "thresholds"]),
    ]
    assert diff.changed[0].before.tcp == TcpTarget(host="db", port=5432)
    assert diff.changed[0].after.tcp == TcpTarget(host="db", port=6432)
    assert [c.name for c in diff.removed] == ["gone"]
    assert [c.name for c in diff.unchanged] == ["same"]
    assert diff.has_changes


def test_applying_twice_changes_nothing() -> None:
    desired = load_checks(VALID)
    applied = {check.name: check for check in desired.checks}
    diff = diff_checks(applied, desired)
    assert not diff.has_changes
    assert [c.name for c in diff.unchanged] == sorted(applied)
    # The file read back from an export is the same file.
    assert not diff_checks(applied, load_checks(dump_checks(desired))).has_changes


def test_an_empty_file_removes_everything() -> None:
    diff = diff_checks({"a": _tcp("a")}, ChecksFile())
    assert [c.name for c in diff.removed] == ["a"]
    assert not diff.created and not diff.changed and not diff.unchanged
