"""The probes against real servers on loopback: HTTP(S) phases, framing, redirects, timeouts,
TCP, DNS and TLS certificate expiry."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from opsyard_synthetics.probes import (
    HttpRequest,
    ProbeClient,
    ProbeError,
    ProbeSetupError,
    fetch,
    fetch_client_credentials_token,
    probe_dns,
    probe_tcp,
    probe_tls,
    product_version,
)
from tests.plugins.synthetics.target import (
    CLIENT_ID,
    CLIENT_SECRET,
    Certificate,
    LoopbackDns,
    LoopbackTarget,
    self_signed_certificate,
)

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    # Probes run on uvloop in production; the asyncio loop is covered by test_runner.
    return uvloop.run(coroutine)


@pytest.fixture
def target() -> Iterator[LoopbackTarget]:
    with LoopbackTarget() as server:
        yield server


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed_certificate(str(tmp_path), days=30)


@pytest.fixture
def tls_target(certificate: Certificate) -> Iterator[LoopbackTarget]:
    with LoopbackTarget(tls=certificate.server_context()) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLIENT = ProbeClient(location="eu-west")


# --- HTTP: phases ------------------------------------------------------------------------------


def test_phase_timings_are_present_and_ordered(target: LoopbackTarget) -> None:
    target.set_location("eu-west", latency_ms=40)
    # `localhost` makes the probe resolve a name; it may resolve to ::1 first, where nothing
    # listens, and the probe must go on to 127.0.0.1.
    url = target.url("/").replace("127.0.0.1", "localhost")
    response = run(fetch(CLIENT, HttpRequest("GET", url)))
    t = response.timings
    assert response.status == 200
    assert t.dns_ms > 0
    assert t.connect_ms > 0
    assert t.tls_ms == 0  # plain HTTP
    assert t.first_byte_ms >= 40  # the target waits 40 ms before answering
    assert t.dns_ms + t.connect_ms + t.tls_ms + t.first_byte_ms <= t.total_ms
    assert t.total_ms < 5000


def test_https_measures_the_tls_handshake_and_reads_the_expiry(
    tls_target: LoopbackTarget, certificate: Certificate
) -> None:
    client = ProbeClient(location="eu-west", ssl_context=certificate.client_context())
    response = run(fetch(client, HttpRequest("GET", tls_target.url("/"))))
    t = response.timings
    assert response.status == 200
    assert t.dns_ms == 0  # an IP address needs no lookup
    assert t.connect_ms > 0 and t.tls_ms > 0
    assert t.dns_ms + t.connect_ms + t.tls_ms + t.first_byte_ms <= t.total_ms
    assert response.cert_not_after is not None
    assert abs((response.cert_not_after - certificate.not_after).total_seconds()) < 1


def test_https_refuses_an_untrusted_certificate(tls_target: LoopbackTarget) -> None:
    with pytest.raises(ProbeError) as caught:
        run(fetch(CLIENT, HttpRequest("GET", tls_target.url("/"))))
    assert caught.value.failure == "tls"
    assert "not trusted" in caught.value.message


def test_every_request_opens_a_new_connection(target: LoopbackTarget) -> None:
    async def three() -> None:
        for _ in range(3):
            await fetch(CLIENT, HttpRequest("GET", target.url("/")))

    run(three())
    assert target.state.connections == 3


# --- HTTP: what is sent ------------------------------------------------------------------------


def test_user_agent_names_the_version_and_location(target: LoopbackTarget) -> None:
    run(fetch(ProbeClient(location="ap-south"), HttpRequest("GET", target.url("/"))))
    (seen,) = target.seen
    assert (
        seen.headers["user-agent"] == f"opsyard-synthetics/{product_version()} (location=ap-south)"
    )
    assert seen.location == "ap-south"
    assert seen.headers["connection"] == "close"


def test_method_headers_and_body_are_sent(target: LoopbackTarget) -> None:
    request = HttpRequest(
        "PUT",
        target.url("/echo?x=1"),
        headers=[("X-Trace", "abc"), ("Content-Type", "text/plain"), ("Host", "evil")],
        body="ünïcode body".encode(),
    )
    response = run(fetch(CLIENT, request))
    echoed = json.loads(response.body)
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo?x=1"
    assert echoed["body"] == "ünïcode body"
    assert echoed["headers"]["x-trace"] == "abc"
    assert echoed["headers"]["content-length"] == str(len("ünïcode body".encode()))
    assert echoed["headers"]["host"] == f"127.0.0.1:{target.port}"  # the check cannot override it


def test_a_header_with_a_line_break_is_refused_before_sending(target: LoopbackTarget) -> None:
    request = HttpRequest("GET", target.url("/"), headers=[("X-A", "1\r\nX-Injected: 2")])
    with pytest.raises(ProbeSetupError, match="line break"):
        run(fetch(CLIENT, request))
    assert target.seen == []


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "http:///nohost", "http://user:pw@127.0.0.1/", "http://127.0.0.1:99999/"],
)
def test_unusable_urls_are_setup_errors(url: str) -> None:
    with pytest.raises(ProbeSetupError):
        run(fetch(CLIENT, HttpRequest("GET", url)))


# --- HTTP: what comes back ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/chunked", "/until-close", "/gzip"])
def test_every_framing_of_the_body_is_read_whole(target: LoopbackTarget, path: str) -> None:
    target.set_location("eu-west", body="x" * 5000 + "healthy")
    response = run(fetch(CLIENT, HttpRequest("GET", target.url(path))))
    assert response.text() == "x" * 5000 + "healthy"
    assert not response.body_truncated


def test_an_interim_answer_is_skipped(target: LoopbackTarget) -> None:
    response = run(fetch(CLIENT, HttpRequest("GET", target.url("/early-hints"), timeout_s=2)))
    assert response.status == 200
    assert response.text() == '{"status": "healthy", "service": "checkout"}'
    assert response.header("link") is None  # the 103's headers are not the answer's


@pytest.mark.parametrize("status", [204, 304, 418])
def test_answers_without_a_body_end_at_their_headers(target: LoopbackTarget, status: int) -> None:
    response = run(fetch(CLIENT, HttpRequest("GET", target.url(f"/status/{status}"), timeout_s=2)))
    assert response.status == status
    assert response.body == b""


def test_head_returns_headers_without_waiting_for_a_body(target: LoopbackTarget) -> None:
    response = run(fetch(CLIENT, HttpRequest("HEAD", target.url("/"), timeout_s=2)))
    assert response.status == 200
    assert response.header("content-length") == "44"
    assert response.body == b""


def test_a_large_body_is_cut_at_the_limit(target: LoopbackTarget) -> None:
    target.set_location("eu-west", body="y" * 10_000)
    client = ProbeClient(location="eu-west", max_body_bytes=1000)
    response = run(fetch(client, HttpRequest("GET", target.url("/"))))
    assert response.body == b"y" * 1000
    assert response.body_truncated


def test_status_and_latency_are_set_per_location(target: LoopbackTarget) -> None:
    target.set_location("eu-west", status=200, latency_ms=0)
    target.set_location("us-east", status=503, latency_ms=150, body="down")

    async def both() -> tuple[Any, Any]:
        eu = await fetch(ProbeClient(location="eu-west"), HttpRequest("GET", target.url("/")))
        us = await fetch(ProbeClient(location="us-east"), HttpRequest("GET", target.url("/")))
        return eu, us

    eu, us = run(both())
    assert (eu.status, us.status) == (200, 503)
    assert us.text() == "down"
    assert us.timings.first_byte_ms >= 150 > eu.timings.first_byte_ms


# --- HTTP: redirects and timeouts -------------------------------------------------------------


def test_redirects_are_followed_when_asked(target: LoopbackTarget) -> None:
    start = target.url("/redirect?to=/echo")
    response = run(fetch(CLIENT, HttpRequest("GET", start)))
    assert response.status == 200
    assert response.url == target.url("/echo")
    assert response.redirects == [start]
    assert len(target.seen) == 2


def test_redirects_are_returned_when_not_followed(target: LoopbackTarget) -> None:
    request = HttpRequest("GET", target.url("/redirect?to=/echo"), follow_redirects=False)
    response = run(fetch(CLIENT, request))
    assert response.status == 302
    assert response.header("location") == "/echo"
    assert len(target.seen) == 1


def test_see_other_turns_a_post_into_a_get(target: LoopbackTarget) -> None:
    request = HttpRequest(
        "POST",
        target.url("/redirect/see-other"),
        headers=[("Authorization", "Bearer t")],
        body=b"x",
    )
    response = run(fetch(CLIENT, request))
    echoed = json.loads(response.body)
    assert echoed["method"] == "GET" and echoed["body"] == ""
    assert echoed["headers"]["authorization"] == "Bearer t"  # same origin: kept


def test_credentials_are_not_carried_to_another_origin(target: LoopbackTarget) -> None:
    with LoopbackTarget() as other:
        request = HttpRequest(
            "GET",
            target.url(f"/redirect?to={other.url('/echo')}"),
            headers=[("Authorization", "Bearer secret-token")],
        )
        response = run(fetch(CLIENT, request))
    echoed = json.loads(response.body)
    assert "authorization" not in echoed["headers"]


def test_a_slow_answer_times_out_naming_the_phase(target: LoopbackTarget) -> None:
    target.set_location("eu-west", latency_ms=1000)
    with pytest.raises(ProbeError) as caught:
        run(fetch(CLIENT, HttpRequest("GET", target.url("/"), timeout_s=0.2)))
    error = caught.value
    assert error.failure == "timeout"
    assert error.message == "timed out after 0.2 s waiting for the first byte"
    assert 190 <= error.timings.total_ms < 900
    assert error.timings.connect_ms > 0


def test_a_refused_connection_says_where() -> None:
    port = free_port()
    with pytest.raises(ProbeError) as caught:
        run(fetch(CLIENT, HttpRequest("GET", f"http://127.0.0.1:{port}/")))
    assert caught.value.failure == "connect"
    assert caught.value.message == f"connection refused (127.0.0.1:{port})"


def test_names_resolve_with_the_locations_resolver(target: LoopbackTarget) -> None:
    records = {("api.shop.test.", "A"): ["127.0.0.1"]}
    with LoopbackDns(records) as server:
        client = ProbeClient(location="eu-west", resolver=server.address)
        response = run(fetch(client, HttpRequest("GET", f"http://api.shop.test:{target.port}/")))
    assert response.status == 200
    assert response.timings.dns_ms > 0
    assert server.queries == [("api.shop.test.", "A")]
    assert target.seen[0].headers["host"] == f"api.shop.test:{target.port}"


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    # Tests never ask the system's resolver: it is not on loopback.
    with LoopbackDns({}) as server:
        client = ProbeClient(location="eu-west", resolver=server.address)
        with pytest.raises(ProbeError) as caught:
            run(fetch(client, HttpRequest("GET", "http://gone.shop.test/", timeout_s=5)))
    assert caught.value.failure == "dns"
    assert caught.value.message == (
        f"could not resolve gone.shop.test: the name does not exist (resolver {server.address})"
    )
    assert caught.value.timings.dns_ms > 0


def test_an_address_the_location_may_not_probe_is_refused(target: LoopbackTarget) -> None:
    client = ProbeClient(location="eu-west", address_allowed=lambda address: False)
    with pytest.raises(ProbeError) as caught:
        run(fetch(client, HttpRequest("GET", target.url("/"))))
    assert caught.value.failure == "refused_address"
    assert target.seen == []


# --- OAuth 2.0 client credentials ---------------------------------------------------------------


def test_client_credentials_token_is_fetched_each_time(target: LoopbackTarget) -> None:
    async def twice() -> tuple[str, str]:
        first = await fetch_client_credentials_token(
            CLIENT,
            token_url=target.url("/oauth/token"),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scope="orders:read",
        )
        second = await fetch_client_credentials_token(
            CLIENT,
            token_url=target.url("/oauth/token"),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        return first.access_token, second.access_token

    first, second = run(twice())
    assert first != second and {first, second} <= target.state.tokens
    sent = target.seen[0]
    assert sent.method == "POST"
    assert b"grant_type=client_credentials" in sent.body and b"scope=orders%3Aread" in sent.body


def test_refused_client_credentials_say_what_the_endpoint_said(target: LoopbackTarget) -> None:
    with pytest.raises(ProbeError) as caught:
        run(
            fetch_client_credentials_token(
                CLIENT,
                token_url=target.url("/oauth/token"),
                client_id=CLIENT_ID,
                client_secret="wrong",
            )
        )
    assert caught.value.failure == "auth"
    assert caught.value.message == "the token endpoint answered 401 (invalid_client)"


# --- TCP -----------------------------------------------------------------------------------------


def test_tcp_connects_to_an_open_port(target: LoopbackTarget) -> None:
    result = run(probe_tcp(CLIENT, host="127.0.0.1", port=target.port, timeout_s=2))
    assert result.connected and result.error is None
    assert 0 < result.timings.connect_ms <= result.timings.total_ms


def test_tcp_reports_a_refused_port() -> None:
    port = free_port()
    result = run(probe_tcp(CLIENT, host="127.0.0.1", port=port, timeout_s=2))
    assert not result.connected
    assert result.error == f"connection refused (127.0.0.1:{port})"


# --- DNS -----------------------------------------------------------------------------------------

RECORDS = {
    ("api.shop.test.", "A"): ["127.0.0.10", "127.0.0.11"],
    ("api.shop.test.", "TXT"): ['"v=spf1 -all"'],
    ("www.shop.test.", "CNAME"): ["api.shop.test."],
    ("shop.test.", "MX"): ["10 mail.shop.test."],
}


@pytest.fixture
def dns_server() -> Iterator[LoopbackDns]:
    with LoopbackDns(RECORDS) as server:
        yield server


@pytest.mark.parametrize(
    ("name", "record_type", "answers"),
    [
        ("api.shop.test", "A", ["127.0.0.10", "127.0.0.11"]),
        ("api.shop.test", "TXT", ["v=spf1 -all"]),
        ("www.shop.test", "CNAME", ["api.shop.test"]),
        ("shop.test", "MX", ["10 mail.shop.test"]),
    ],
)
def test_dns_answers_from_the_given_resolver(
    dns_server: LoopbackDns, name: str, record_type: str, answers: list[str]
) -> None:
    result = run(
        probe_dns(
            CLIENT, name=name, record_type=record_type, resolver=dns_server.address, timeout_s=2
        )
    )
    assert sorted(result.answers) == sorted(answers)
    assert result.rcode == "NOERROR"
    assert result.resolver == dns_server.address
    assert result.timings.dns_ms > 0
    assert dns_server.queries[-1] == (name + ".", record_type)


def test_dns_reports_a_name_that_does_not_exist(dns_server: LoopbackDns) -> None:
    result = run(
        probe_dns(
            CLIENT, name="gone.shop.test", record_type="A", resolver=dns_server.address, timeout_s=2
        )
    )
    assert result.answers == [] and result.rcode == "NXDOMAIN"


def test_dns_times_out_when_the_resolver_is_silent() -> None:
    with LoopbackDns({}, silent=True) as silent, pytest.raises(ProbeError) as caught:
        run(
            probe_dns(
                CLIENT,
                name="api.shop.test",
                record_type="A",
                resolver=silent.address,
                timeout_s=0.3,
            )
        )
    assert caught.value.failure == "timeout"
    assert caught.value.message == f"resolver {silent.address} did not answer within 0.3 s"


@pytest.mark.parametrize("resolver", ["dns.example", "127.0.0.1:port", "[::1]:70000"])
def test_an_unusable_resolver_is_a_setup_error(resolver: str) -> None:
    with pytest.raises(ProbeSetupError):
        run(probe_dns(CLIENT, name="a.test", record_type="A", resolver=resolver, timeout_s=1))


# --- TLS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [30, 2.5, -3])
def test_tls_reads_the_days_left_of_any_certificate(tmp_path: Path, days: float) -> None:
    certificate = self_signed_certificate(str(tmp_path), days=days)
    with LoopbackTarget(tls=certificate.server_context()) as server:
        result = run(
            probe_tls(
                CLIENT, host="127.0.0.1", port=server.port, server_name="localhost", timeout_s=2
            )
        )
    assert result.days_left == pytest.approx(days, abs=0.01)
    assert result.subject == "CN=localhost" == result.issuer
    assert result.not_after == certificate.not_after
    assert result.timings.tls_ms > 0 and result.timings.connect_ms > 0


def test_tls_to_a_plain_server_fails_the_handshake(target: LoopbackTarget) -> None:
    with pytest.raises(ProbeError) as caught:
        run(probe_tls(CLIENT, host="127.0.0.1", port=target.port, server_name=None, timeout_s=2))
    assert caught.value.failure == "tls"


def test_probes_also_run_on_the_default_event_loop(target: LoopbackTarget) -> None:
    response = asyncio.run(fetch(CLIENT, HttpRequest("GET", target.url("/chunked"))))
    assert response.status == 200 and b"healthy" in response.body
