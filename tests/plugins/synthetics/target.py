"""Loopback targets for the probes: an HTTP target whose status, latency and body are set per
probing location, a self-signed certificate to serve it over TLS, and a small DNS server.

The runner names its location in its User-Agent (`opsyard-synthetics/1.0 (location=eu)`);
the target reads it and answers as configured for that location, so one server plays a
service that is healthy from one place and slow or down from another. It also has an OAuth 2.0
token endpoint and a protected resource for flow checks, redirects, an echo of the request,
and responses framed in the less common ways (chunked, ended by closing, compressed).

It is an asyncio server on uvloop with httptools, the same parser as the probes, and serves
well above 10,000 new connections per second on one core, so the benchmark measures the
probes and not the target. Tests run it in a thread (`LoopbackTarget`); the benchmark runs it
as a process of its own (`python -m tests.plugins.synthetics.target --port 0`).

Routes (any method):
    /oauth/token        client credentials grant (HTTP Basic client authentication)
    /api/me             needs `Authorization: Bearer <a token issued above>`
    /redirect?to=PATH   302 to PATH; /redirect/see-other answers 303 to /echo
    /echo               the request as JSON (method, path, headers, body)
    /chunked            the location's body in chunked transfer encoding
    /until-close        the location's body with no length, ended by closing the connection
    /gzip               the location's body gzip-compressed
    /early-hints        a 103 interim answer, then the location's answer
    /status/CODE        an empty answer with that status (204, 304, 418, ...)
    anything else       the location's configured answer
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import httptools
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_BODY = '{"status": "healthy", "service": "checkout"}'
CLIENT_ID = "probe-client"
CLIENT_SECRET = "s3cr3t-client-value"
_LOCATION = re.compile(r"\(location=([^)]+)\)")


@dataclass(frozen=True)
class Behaviour:
    """How the target answers one location."""

    status: int = 200
    latency_ms: float = 0.0
    body: str = DEFAULT_BODY
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass(frozen=True)
class SeenRequest:
    """A request the target received, for tests to inspect."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    location: str | None


@dataclass
class TargetState:
    """What the handlers share: behaviours per location, issued tokens, requests seen."""

    default: Behaviour = field(default_factory=Behaviour)
    by_location: dict[str, Behaviour] = field(default_factory=dict)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    tokens: set[str] = field(default_factory=set)
    seen: list[SeenRequest] = field(default_factory=list)
    record: bool = True
    connections: int = 0

    def behaviour(self, location: str | None) -> Behaviour:
        if location is None:
            return self.default
        return self.by_location.get(location, self.default)


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay_s: float = 0.0
    framing: str = "length"  # "length", "chunked" or "close"
    early_hints: bool = False  # send a 103 interim answer first


def _json(status: int, document: Any) -> _Answer:
    return _Answer(status, json.dumps(document).encode(), [("Content-Type", "application/json")])


def _token(state: TargetState, headers: dict[str, str], body: bytes) -> _Answer:
    form = parse_qs(body.decode("ascii", errors="replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return _json(400, {"error": "unsupported_grant_type"})
    expected = f"{state.client_id}:{state.client_secret}".encode()
    sent = headers.get("authorization", "")
    if sent != "Basic " + base64.b64encode(expected).decode():
        return _json(401, {"error": "invalid_client"})
    token = secrets.token_urlsafe(24)
    state.tokens.add(token)
    scope = form.get("scope", [""])[0]
    return _json(
        200, {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": scope}
    )


def _me(state: TargetState, headers: dict[str, str], location: str | None) -> _Answer:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in state.tokens:
        return _json(401, {"error": "invalid_token"})
    return _json(200, {"user": "probe", "location": location, "orders": 3})


def _answer(
    state: TargetState, method: str, url: str, headers: dict[str, str], body: bytes
) -> _Answer:
    parts = urlsplit(url)
    path = unquote(parts.path)
    match = _LOCATION.search(headers.get("user-agent", ""))
    location = match.group(1) if match else None
    if state.record:
        state.seen.append(SeenRequest(method, url, headers, body, location))
    if path == "/oauth/token":
        return _token(state, headers, body)
    if path == "/api/me":
        return _me(state, headers, location)
    if path == "/redirect":
        to = parse_qs(parts.query).get("to", ["/"])[0]
        return _Answer(302, b"", [("Location", to)])
    if path == "/redirect/see-other":
        return _Answer(303, b"", [("Location", "/echo")])
    if path.startswith("/status/"):
        return _Answer(int(path.removeprefix("/status/")))
    if path == "/echo":
        return _json(
            200,
            {
                "method": method,
                "path": url,
                "headers": headers,
                "body": body.decode("utf-8", errors="replace"),
            },
        )
    behaviour = state.behaviour(location)
    answer = _Answer(
        behaviour.status,
        behaviour.body.encode(),
        list(behaviour.headers.items()),
        behaviour.latency_ms / 1000,
    )
    if path == "/chunked":
        answer.framing = "chunked"
    elif path == "/until-close":
        answer.framing = "close"
    elif path == "/early-hints":
        answer.early_hints = True
    elif path == "/gzip":
        answer.body = gzip.compress(answer.body)
        answer.headers.append(("Content-Encoding", "gzip"))
    return answer


def _encode(answer: _Answer, *, head: bool, keep_alive: bool) -> bytes:
    phrase = (
        HTTPStatus(answer.status).phrase if answer.status in HTTPStatus._value2member_map_ else ""
    )
    lines = [f"HTTP/1.1 {answer.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    keep_alive = keep_alive and answer.framing != "close"
    body = b"" if head or answer.status in (204, 304) else answer.body
    if answer.framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        half = len(body) // 2
        pieces = [piece for piece in (body[:half], body[half:]) if piece]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    elif answer.framing == "length" and answer.status not in (204, 304):
        lines.append(f"Content-Length: {len(answer.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if answer.early_hints:
        head = b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n" + head
    return head + body


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer each after its location's latency."""

    def __init__(self, state: TargetState) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii")
        keep_alive = self.parser.should_keep_alive()
        answer = _answer(
            self.state, method, self.url.decode("latin-1"), self.headers, bytes(self.body)
        )
        payload = _encode(answer, head=method == "HEAD", keep_alive=keep_alive)
        close = not keep_alive or answer.framing == "close"
        self._reset()
        if answer.delay_s > 0:
            asyncio.get_running_loop().call_later(answer.delay_s, self._send, payload, close)
        else:
            self._send(payload, close)

    def _send(self, payload: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if close:
            self.transport.close()


async def _start(
    state: TargetState, host: str, port: int, tls: ssl.SSLContext | None
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(state), host, port, ssl=tls, backlog=4096)


class LoopbackTarget:
    """The target running in a thread of its own, on 127.0.0.1 and a free port."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.state = TargetState()
        self.tls = tls
        self.port = 0
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> LoopbackTarget:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            _start(self.state, "127.0.0.1", 0, self.tls), self._loop
        )
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def set_location(
        self,
        location: str,
        *,
        status: int = 200,
        latency_ms: float = 0.0,
        body: str = DEFAULT_BODY,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer requests from `location` this way from now on."""
        self.state.by_location[location] = Behaviour(
            status, latency_ms, body, headers if headers is not None else Behaviour().headers
        )

    def set_default(
        self,
        *,
        status: int = 200,
        latency_ms: float = 0.0,
        body: str = DEFAULT_BODY,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer requests from locations without their own behaviour this way."""
        self.state.default = Behaviour(
            status, latency_ms, body, headers if headers is not None else Behaviour().headers
        )

    @property
    def seen(self) -> list[SeenRequest]:
        """Every request received so far."""
        return self.state.seen


async def _serve_forever(host: str, port: int, body: str) -> None:
    state = TargetState(default=Behaviour(body=body), record=False)
    server = await _start(state, host, port, None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main() -> None:
    """Run the target in the foreground; the first line printed is its port."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--body", default=DEFAULT_BODY)
    args = parser.parse_args()
    try:
        uvloop.run(_serve_forever(args.host, args.port, args.body))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------
# TLS: a self-signed certificate for 127.0.0.1 and localhost


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate and its key, as PEM files, and its expiry."""

    cert_path: str
    key_path: str
    not_after: datetime

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this certificate only."""
        return ssl.create_default_context(cafile=self.cert_path)


def self_signed_certificate(
    directory: str, *, days: float, common_name: str = "localhost"
) -> Certificate:
    """Write a certificate valid from an hour ago for `days` days into `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    not_after = now + timedelta(days=days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now - timedelta(hours=1), not_after - timedelta(hours=1)))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, f"{common_name}-{days:g}.crt")
    key_path = os.path.join(directory, f"{common_name}-{days:g}.key")
    with open(cert_path, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return Certificate(cert_path, key_path, certificate.not_valid_after_utc)


# ---------------------------------------------------------------------------------------------
# DNS: a tiny authoritative responder on a loopback UDP port, built on dnspython's messages


class LoopbackDns:
    """Answers A, AAAA, CNAME, MX and TXT queries from `records`; unknown names get NXDOMAIN.

    `records` maps (name, type) to answers in zone-file text: ("api.test.", "A") →
    ["127.0.0.1"]. With `silent=True` it reads queries and never answers, for timeouts.
    """

    def __init__(self, records: dict[tuple[str, str], list[str]], *, silent: bool = False) -> None:
        self.records = records
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackDns:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text()
            kind = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, kind))
            if self.silent:
                continue
            self._socket.sendto(self._answer(query, name, kind).to_wire(), peer)

    def _answer(self, query: dns.message.Message, name: str, kind: str) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        answers = self.records.get((name, kind))
        if answers is None:
            if not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response  # a known name without this type: NOERROR, no answers
        response.answer.append(dns.rrset.from_text_list(name, 60, "IN", kind, answers))
        return response
