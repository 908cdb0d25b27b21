"""The runner against the loopback target: outcomes and reasons per location, flows with a
token exchange, thresholds, errors on our side, redaction of stored results, and the spread
of checks over their interval."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.redaction import REDACTED, Redactor
from opsyard_synthetics.runner import RunResult, run_check, run_cycle
from tests.plugins.synthetics.target import (
    CLIENT_ID,
    CLIENT_SECRET,
    LoopbackDns,
    LoopbackTarget,
    self_signed_certificate,
)


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


def check(**fields: Any) -> CheckDefinition:
    return CheckDefinition.model_validate({"name": "checkout", "kind": "http", **fields})


def http_check(url: str, *assertions: str, **fields: Any) -> CheckDefinition:
    step = {"url": url, "assertions": list(assertions), **fields.pop("step", {})}
    return check(steps=[step], **fields)


def run(
    definition: CheckDefinition,
    *,
    location: str = "eu-west",
    secrets: dict[str, str] | None = None,
    client: ProbeClient | None = None,
) -> RunResult:
    return asyncio.run(
        run_check(
            definition,
            location=location,
            secrets=secrets or {},
            client=client or ProbeClient(location=location),
        )
    )


def stored(result: RunResult) -> str:
    """Everything the result would store, as text."""
    return json.dumps(dataclasses.asdict(result), default=str)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- outcomes per location ---------------------------------------------------------------------


def test_outcome_follows_each_locations_status_and_latency(target: LoopbackTarget) -> None:
    target.set_location("eu-west", status=200)
    target.set_location("us-east", status=503, body="maintenance")
    target.set_location("ap-south", latency_ms=120)
    definition = http_check(
        target.url("/"),
        "status == 200",
        'body contains "healthy"',
        thresholds={"degraded_ms": 80, "failing_ms": 2000},
    )
    eu = run(definition, location="eu-west")
    us = run(definition, location="us-east")
    ap = run(definition, location="ap-south")

    assert eu.outcome == "ok" and eu.reason is None
    assert us.outcome == "failing"
    assert us.reason == "step 'request': assertion failed: status == 200: got 503"
    assert ap.outcome == "degraded"
    assert ap.reason is not None and ap.reason.startswith("response_time_ms 1")
    assert ap.reason.endswith(" > degraded 80")
    assert [s.location for s in target.seen] == ["eu-west", "us-east", "ap-south"]


def test_a_run_keeps_phases_assertions_and_an_excerpt(target: LoopbackTarget) -> None:
    result = run(http_check(target.url("/"), 'json("$.status") == "healthy"'))
    (step,) = result.steps
    assert result.outcome == "ok"
    assert step.status == 200
    assert step.timings.connect_ms > 0 and step.timings.total_ms <= result.duration_ms
    assert step.assertions[0].passed and step.assertions[0].actual == "healthy"
    assert step.excerpt == '{"status": "healthy", "service": "checkout"}'
    assert ("Content-Type", "application/json") in step.response_headers
    assert result.started_at.tzinfo is not None


def test_a_step_without_assertions_expects_a_healthy_status(target: LoopbackTarget) -> None:
    target.set_location("eu-west", status=500)
    result = run(http_check(target.url("/")))
    assert result.outcome == "failing"
    assert result.reason == "step 'request': assertion failed: failed: the status is 500"


def test_step_threshold_fails_a_slow_step(target: LoopbackTarget) -> None:
    target.set_location("eu-west", latency_ms=150)
    result = run(http_check(target.url("/"), step={"thresholds": {"failing_ms": 100}}))
    assert result.outcome == "failing"
    assert result.reason is not None
    assert result.reason.startswith("step 'request': response_time_ms 1")
    assert result.reason.endswith(" > failing 100")


def test_an_assertion_that_cannot_be_decided_names_the_value(target: LoopbackTarget) -> None:
    target.set_location("eu-west", body='{"count": "abc"}')
    result = run(http_check(target.url("/"), 'json("$.count") < 10'))
    assert result.outcome == "failing"
    assert result.reason is not None
    assert result.reason.startswith("step 'request': assertion error: ")
    assert '"abc" is a string, not a number' in result.reason
    assert result.steps[0].assertions[0].error


# --- redirects, timeouts, unreachable targets ---------------------------------------------------


def test_redirects_on_and_off(target: LoopbackTarget) -> None:
    url = target.url("/redirect?to=/")
    followed = run(http_check(url, "status == 200"))
    kept = run(http_check(url, "status == 302", step={"follow_redirects": False}))
    assert followed.outcome == "ok" and followed.steps[0].details["redirects"] == [url]
    assert kept.outcome == "ok" and kept.steps[0].status == 302


def test_a_timeout_is_failing_with_the_phase(target: LoopbackTarget) -> None:
    target.set_location("eu-west", latency_ms=2000)
    result = run(http_check(target.url("/"), "status == 200", step={"timeout_s": 0.3}))
    assert result.outcome == "failing"
    assert result.reason == "step 'request': timed out after 0.3 s waiting for the first byte"
    assert result.duration_ms < 1500


def test_a_refused_connection_is_failing() -> None:
    port = free_port()
    result = run(http_check(f"http://127.0.0.1:{port}/health"))
    assert result.outcome == "failing"
    assert result.reason == f"step 'request': connection refused (127.0.0.1:{port})"


def test_a_target_name_that_does_not_resolve_is_failing_not_error() -> None:
    with LoopbackDns({}) as server:
        client = ProbeClient(location="eu-west", resolver=server.address)
        result = run(http_check("http://checkout.shop.test/health"), client=client)
    assert result.outcome == "failing"
    assert result.reason == (
        "step 'request': could not resolve checkout.shop.test: the name does not exist "
        f"(resolver {server.address})"
    )


# --- errors on our side ---------------------------------------------------------------------------


def test_a_missing_secret_is_an_error(target: LoopbackTarget) -> None:
    definition = http_check(
        target.url("/"),
        secrets=["API_KEY"],
        step={"headers": {"X-Api-Key": "{{ secrets.API_KEY }}"}},
    )
    result = run(definition, secrets={})
    assert result.outcome == "error"
    assert result.reason == "error: secret 'API_KEY' is not set for this team"
    assert target.seen == []


def test_an_unknown_variable_is_an_error(target: LoopbackTarget) -> None:
    result = run(http_check(target.url("/{{ tenant }}")))
    assert result.outcome == "error"
    assert result.reason is not None
    assert result.reason.startswith("error: step 'request': unknown variable 'tenant'")
    assert target.seen == []


def test_an_error_in_a_later_step_keeps_the_steps_that_ran(target: LoopbackTarget) -> None:
    definition = check(
        kind="flow",
        steps=[
            {"name": "home", "url": target.url("/")},
            {"name": "next", "url": target.url("/{{ order_id }}")},
        ],
    )
    result = run(definition)
    assert result.outcome == "error"
    assert result.reason is not None
    assert result.reason.startswith("error: step 'next': unknown variable 'order_id'")
    assert [(s.name, s.outcome) for s in result.steps] == [("home", "ok")]


def test_an_assertion_that_does_not_compile_is_an_error(target: LoopbackTarget) -> None:
    definition = http_check(target.url("/"), "status == 200")
    # Definitions are validated when written; one stored before a change of the language
    # can still reach the runner.
    definition.steps[0].assertions = ["status = 200"]
    result = run(definition)
    assert result.outcome == "error"
    assert result.reason is not None and "does not compile: column 8" in result.reason
    assert target.seen == []


def test_an_address_this_location_may_not_probe_is_an_error(target: LoopbackTarget) -> None:
    client = ProbeClient(location="eu-west", address_allowed=lambda a: a != "127.0.0.1")
    result = run(http_check(target.url("/")), client=client)
    assert result.outcome == "error"
    assert result.reason == (
        "error: step 'request': 127.0.0.1 resolves to 127.0.0.1, which this location may not probe"
    )


# --- flows ----------------------------------------------------------------------------------------


def token_flow(target: LoopbackTarget) -> CheckDefinition:
    return check(
        kind="flow",
        secrets=["CLIENT_ID", "CLIENT_SECRET"],
        steps=[
            {
                "name": "token",
                "method": "POST",
                "url": target.url("/oauth/token"),
                "body": "grant_type=client_credentials",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "auth": {
                    "type": "basic",
                    "username": "{{ secrets.CLIENT_ID }}",
                    "password": "{{ secrets.CLIENT_SECRET }}",
                },
                "extract": {"token": {"source": "jsonpath", "expression": "$.access_token"}},
                "assertions": ["status == 200", 'json("$.token_type") == "Bearer"'],
            },
            {
                "name": "orders",
                "url": target.url("/api/me"),
                "auth": {"type": "bearer", "token": "{{ token }}"},
                "assertions": ["status == 200", 'json("$.orders") >= 1'],
            },
        ],
    )


SECRETS = {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET}


def test_a_token_exchange_then_an_authenticated_call(target: LoopbackTarget) -> None:
    result = run(token_flow(target), secrets=SECRETS)
    assert result.outcome == "ok", result.reason
    token_step, orders_step = result.steps
    assert token_step.extracted == ["token"]
    assert orders_step.status == 200
    (issued,) = target.state.tokens
    assert target.seen[1].headers["authorization"] == f"Bearer {issued}"
    # The token was used as a credential, so it is stored nowhere.
    assert issued not in stored(result)
    assert '"access_token": "[REDACTED]"' in token_step.excerpt


def test_a_flow_stops_at_its_first_failing_step(target: LoopbackTarget) -> None:
    result = run(token_flow(target), secrets={**SECRETS, "CLIENT_SECRET": "wrong"})
    assert result.outcome == "failing"
    assert result.reason == "step 'token': assertion failed: status == 200: got 401"
    assert [s.name for s in result.steps] == ["token"]
    assert len(target.seen) == 1


def test_a_value_that_cannot_be_extracted_fails_the_step(target: LoopbackTarget) -> None:
    definition = http_check(
        target.url("/"),
        step={"extract": {"order": {"source": "jsonpath", "expression": "$.order_id"}}},
    )
    result = run(definition)
    assert result.outcome == "failing"
    assert (
        result.reason
        == "step 'request': could not extract 'order': $.order_id matched nothing in the body"
    )


def test_oauth2_client_credentials_auth_fetches_a_fresh_token_each_run(
    target: LoopbackTarget,
) -> None:
    definition = http_check(
        target.url("/api/me"),
        'json("$.user") == "probe"',
        secrets=["CLIENT_SECRET"],
        step={
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": target.url("/oauth/token"),
                "client_id": CLIENT_ID,
                "client_secret": "{{ secrets.CLIENT_SECRET }}",
                "scope": "orders:read",
            }
        },
    )
    first = run(definition, secrets={"CLIENT_SECRET": CLIENT_SECRET})
    second = run(definition, secrets={"CLIENT_SECRET": CLIENT_SECRET})
    assert first.outcome == second.outcome == "ok"
    assert len(target.state.tokens) == 2  # nothing cached between runs
    assert first.steps[0].auth_ms is not None and first.steps[0].auth_ms > 0
    for token in target.state.tokens:
        assert token not in stored(first) + stored(second)


def test_a_refused_oauth_token_request_is_failing(target: LoopbackTarget) -> None:
    definition = http_check(
        target.url("/api/me"),
        secrets=["CLIENT_SECRET"],
        step={
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": target.url("/oauth/token"),
                "client_id": CLIENT_ID,
                "client_secret": "{{ secrets.CLIENT_SECRET }}",
            }
        },
    )
    result = run(definition, secrets={"CLIENT_SECRET": "not-the-secret"})
    assert result.outcome == "failing"
    assert result.reason == (
        "step 'request': OAuth token request: the token endpoint answered 401 (invalid_client)"
    )


def test_json_bodies_are_rendered_and_sent(target: LoopbackTarget) -> None:
    definition = check(
        kind="flow",
        steps=[
            {
                "name": "who",
                "url": target.url("/api/me"),
                "assertions": ["status == 401"],
                "extract": {"reason": {"source": "jsonpath", "expression": "$.error"}},
            },
            {
                "name": "echo",
                "method": "POST",
                "url": target.url("/echo"),
                "json_body": {"why": "{{ reason }}", "count": 2},
                "assertions": ['json("$.headers[\'content-type\']") == "application/json"'],
                "extract": {"sent": {"source": "jsonpath", "expression": "$.body"}},
            },
        ],
    )
    result = run(definition)
    assert result.outcome == "ok", result.reason
    assert json.loads(target.seen[1].body) == {"why": "invalid_token", "count": 2}


# --- tcp, dns and tls checks ---------------------------------------------------------------


def test_tcp_check(target: LoopbackTarget) -> None:
    up = run(check(kind="tcp", tcp={"host": "127.0.0.1", "port": target.port}))
    port = free_port()
    down = run(check(kind="tcp", tcp={"host": "127.0.0.1", "port": port}))
    closed_on_purpose = run(
        check(
            kind="tcp", tcp={"host": "127.0.0.1", "port": port}, assertions=["connected == false"]
        )
    )
    assert up.outcome == "ok"
    assert down.outcome == "failing" and down.reason == f"connection refused (127.0.0.1:{port})"
    assert closed_on_purpose.outcome == "ok"


def test_dns_check() -> None:
    records = {("api.shop.test.", "A"): ["127.0.0.10"]}
    with LoopbackDns(records) as server:
        found = run(
            check(
                kind="dns",
                dns={"name": "api.shop.test", "resolver": server.address},
                assertions=['dns contains "127.0.0.10"'],
            )
        )
        gone = run(check(kind="dns", dns={"name": "old.shop.test", "resolver": server.address}))
    assert found.outcome == "ok"
    assert found.steps[0].details["rcode"] == "NOERROR"
    assert gone.outcome == "failing"
    assert gone.reason == "assertion failed: failed: no A record for old.shop.test (NXDOMAIN)"


def test_dns_check_with_a_silent_resolver_is_failing() -> None:
    with LoopbackDns({}, silent=True) as server:
        result = run(
            check(kind="dns", dns={"name": "a.test", "resolver": server.address, "timeout_s": 0.3})
        )
    assert result.outcome == "failing"
    assert result.reason == f"resolver {server.address} did not answer within 0.3 s"


def test_tls_check_on_days_left(tmp_path: Path) -> None:
    certificate = self_signed_certificate(str(tmp_path), days=10)
    with LoopbackTarget(tls=certificate.server_context()) as server:
        tls = {"host": "127.0.0.1", "port": server.port, "server_name": "localhost"}
        soon = run(check(kind="tls", tls=tls, assertions=["cert_days_left > 14"]))
        fine = run(check(kind="tls", tls=tls, assertions=["cert_days_left > 7"]))
    assert soon.outcome == "failing"
    assert soon.reason is not None
    assert soon.reason.startswith("assertion failed: cert_days_left > 14: got 9.9")
    assert fine.outcome == "ok" and fine.steps[0].cert_days_left == pytest.approx(10, abs=0.01)


def test_https_steps_know_their_certificate(tmp_path: Path) -> None:
    certificate = self_signed_certificate(str(tmp_path), days=40)
    client = ProbeClient(location="eu-west", ssl_context=certificate.client_context())
    with LoopbackTarget(tls=certificate.server_context()) as server:
        result = run(http_check(server.url("/"), "cert_days_left > 30"), client=client)
    assert result.outcome == "ok", result.reason
    assert result.steps[0].timings.tls_ms > 0


# --- redaction -------------------------------------------------------------------------------

SECRET = 'tok/3n+with spaces&"quotes"'


def test_a_secret_in_the_body_headers_and_url_is_never_stored(target: LoopbackTarget) -> None:
    # The target answers with a secret in a header and echoes the request, whose URL and
    # headers carry secrets, in its body; an assertion fails and reports the body too.
    target.set_location(
        "eu-west", headers={"Content-Type": "application/json", "X-Echo": f"key={SECRET}"}
    )
    url_key = "k3y-Url.Safe_0042"
    definition = check(
        kind="flow",
        secrets=["API_KEY", "URL_KEY"],
        steps=[
            {
                "name": "echo",
                "url": target.url("/echo?key={{ secrets.URL_KEY }}"),
                "headers": {
                    "X-Api-Key": "{{ secrets.API_KEY }}",
                    "X-Other": "{{ secrets.API_KEY }}",
                },
                "assertions": ['body contains "nothing like this"'],
            },
        ],
    )
    header_definition = http_check(
        target.url("/?key={{ secrets.URL_KEY }}"),
        'header("X-Echo") == "no"',
        secrets=["API_KEY", "URL_KEY"],
    )
    secrets = {"API_KEY": SECRET, "URL_KEY": url_key}
    results = [run(definition, secrets=secrets), run(header_definition, secrets=secrets)]
    assert [r.outcome for r in results] == ["failing", "failing"]
    for result in results:
        text = stored(result)
        for leaked in (SECRET, json.dumps(SECRET)[1:-1], "tok/3n", url_key):
            assert leaked not in text
        assert REDACTED in text
    sent = target.seen[0]
    assert url_key in sent.path and sent.headers["x-api-key"] == SECRET  # it was really sent
    echo = results[0].steps[0]
    assert echo.url == target.url(f"/echo?key={REDACTED}")
    assert '"x-api-key": "[REDACTED]"' in echo.excerpt
    assert ("X-Echo", f"key={REDACTED}") in results[1].steps[0].response_headers


def test_an_extracted_credential_is_redacted_in_later_responses(target: LoopbackTarget) -> None:
    definition = check(
        kind="flow",
        secrets=["CLIENT_ID", "CLIENT_SECRET"],
        steps=[
            token_flow(target).steps[0].model_dump(),
            {
                "name": "echo",
                "url": target.url("/echo"),
                "headers": {"Authorization": "Bearer {{ token }}"},
            },
        ],
    )
    result = run(definition, secrets=SECRETS)
    assert result.outcome == "ok", result.reason
    (token,) = target.state.tokens
    assert token in target.seen[1].headers["authorization"]
    assert token not in stored(result)


def test_redactor_catches_encoded_spellings_and_cut_secrets() -> None:
    redactor = Redactor([SECRET])
    for spelling in (SECRET, json.dumps(SECRET)[1:-1], "tok%2F3n%2Bwith%20spaces%26%22quotes%22"):
        assert redactor.text(f"a {spelling} b") == f"a {REDACTED} b"
    assert redactor.headers([("Authorization", "Basic abc"), ("X", SECRET)]) == [
        ("Authorization", REDACTED),
        ("X", REDACTED),
    ]
    # A secret straddling the end of the excerpt is not left half visible.
    body = "x" * 2040 + SECRET + "y" * 100
    excerpt = redactor.excerpt(body)
    assert len(excerpt.encode()) <= 2048
    assert "tok" not in excerpt and excerpt.startswith("x" * 2040)
    assert redactor.excerpt("é" * 3000).encode() == ("é" * 1024).encode()


def test_redactor_removes_a_partial_secret_exposed_by_shrinking() -> None:
    long_secret = "S" * 40 + "-tail"
    redactor = Redactor([long_secret])
    # The first secret shrinks when replaced, pulling the start of the second into the excerpt.
    text = long_secret + "z" * 20 + long_secret
    excerpt = redactor.excerpt(text, limit_bytes=40)
    assert "SSS" not in excerpt
    assert excerpt.startswith(REDACTED)


# --- spreading checks over the interval ---------------------------------------------------


def test_run_cycle_starts_each_check_at_its_slot() -> None:
    started: dict[str, float] = {}
    lags: list[float] = []
    loop_time: list[float] = []

    async def probe(check_id: str) -> None:
        started[check_id] = loop_time[0]

    async def cycle() -> None:
        loop = asyncio.get_running_loop()
        begin = loop.time() + 0.05

        def clock() -> float:
            loop_time[:] = [loop.time()]
            return loop_time[0]

        await run_cycle(
            [f"c{n}" for n in range(200)],
            probe,
            interval_seconds=1.0,
            cycle_start=begin,
            on_start=lambda cid, lag: lags.append(lag),
            clock=clock,
        )

    asyncio.run(cycle())
    assert len(started) == 200 == len(lags)
    assert all(lag >= 0 for lag in lags)
    # Generous for a busy machine: the benchmark measures the real figure.
    assert sorted(lags)[int(len(lags) * 0.99)] < 0.5
