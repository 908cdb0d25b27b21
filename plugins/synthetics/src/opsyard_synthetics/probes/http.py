"""The HTTP probe: one request on a new connection, with the time of each phase.

The client is written on asyncio transports with httptools (the llhttp parser that Node.js
uses) rather than a general-purpose HTTP client: a probe needs each phase timed on its own
(DNS, TCP, TLS, first byte) and must never reuse a connection, and this is several times
faster than aiohttp or httpx doing the same (docs/decisions/0011-synthetics-probe-client.md).
It speaks HTTP/1.1 only and always sends `Connection: close`.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from time import perf_counter
from urllib.parse import urljoin, urlsplit

import httptools

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.connect import Progress, open_connection, start_tls
from opsyard_synthetics.probes.errors import ProbeError, ProbeSetupError
from opsyard_synthetics.probes.timings import PhaseTimings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers the probe writes itself; a check cannot set them, so framing stays correct.
_RESERVED_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})
# Credentials are not carried to another origin on a redirect, as browsers do.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_FORBIDDEN_IN_HEADERS = re.compile(r"[\r\n\x00]")
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What to send: the body is already encoded, the headers already rendered."""

    method: str
    url: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    follow_redirects: bool = True
    timeout_s: float = 10.0


@dataclass(slots=True)
class HttpResponse:
    """The final answer (after redirects, if followed) and how long getting it took."""

    url: str
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes
    body_truncated: bool
    timings: PhaseTimings
    redirects: list[str] = field(default_factory=list)
    cert_not_after: datetime | None = None

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), repeated headers joined with ", "."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else None

    def text(self) -> str:
        """The body decoded with the charset the response declares, else UTF-8."""
        match = _CHARSET.search(self.header("content-type") or "")
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    host_header: str
    request_target: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@lru_cache(maxsize=16384)
def parse_url(url: str) -> _Target:
    """The parts of an http(s) URL a request needs; ProbeSetupError if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ProbeSetupError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ProbeSetupError(f"invalid URL {url!r}: only http and https can be probed")
    if not parts.hostname:
        raise ProbeSetupError(f"invalid URL {url!r}: it names no host")
    if parts.username is not None or parts.password is not None:
        raise ProbeSetupError("put credentials in the step's auth, not in the URL")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ProbeSetupError(f"invalid host name {parts.hostname!r}: {exc}") from None
    default_port = 443 if parts.scheme == "https" else 80
    port = port or default_port
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if port == default_port else f"{shown_host}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if _FORBIDDEN_IN_HEADERS.search(target) or " " in target:
        raise ProbeSetupError(f"invalid URL {url!r}: spaces and line breaks must be encoded")
    return _Target(parts.scheme, host, port, host_header, target)


def _encode_request(
    method: str, target: _Target, headers: Sequence[tuple[str, str]], body: bytes | None, ua: str
) -> bytes:
    lines = [
        f"{method} {target.request_target} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {ua}",
        "Accept: */*",
        "Connection: close",
    ]
    for name, value in headers:
        if _FORBIDDEN_IN_HEADERS.search(name) or _FORBIDDEN_IN_HEADERS.search(value):
            raise ProbeSetupError(f"header {name!r} contains a line break")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS:
            continue
        if lowered == "user-agent":
            # The location stays readable: the check's own agent follows ours.
            lines[2] = f"User-Agent: {ua} {value}"
            continue
        if lowered == "accept":
            lines[3] = f"Accept: {value}"
            continue
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="strict")
    return head + body if body else head


class _ResponseReader(asyncio.Protocol):
    """Feeds the bytes of one response to httptools and resolves `done` when it is whole."""

    def __init__(self, *, head: bool, max_body: int, progress: Progress) -> None:
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        self.head = head
        self.max_body = max_body
        self.progress = progress
        self.first_byte_at: float | None = None
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.truncated = False
        self.headers_complete = False
        self.framed = False  # a Content-Length or Transfer-Encoding says where the body ends
        self.content_encoding: str | None = None

    def data_received(self, data: bytes) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = perf_counter()
            self.progress.phase = "reading the response"
        if self.done.done():
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"the response is not valid HTTP: {exc}")

    def eof_received(self) -> bool | None:
        self._closed()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        text = value.decode("latin-1")
        self.headers.append((name.decode("latin-1"), text))
        lowered = name.lower()
        if lowered in (b"content-length", b"transfer-encoding"):
            self.framed = True
        elif lowered == b"content-encoding":
            self.content_encoding = text.strip().lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return  # an interim answer (103 Early Hints); the real one follows
        self.headers_complete = True
        if self.head or self.status in (204, 304):
            # llhttp cannot be told a response answers HEAD; it would wait for a body.
            self._finish()

    def on_body(self, chunk: bytes) -> None:
        room = self.max_body - len(self.body)
        if len(chunk) > room:
            self.body += chunk[:room]
            self.truncated = True
            self._finish()
        else:
            self.body += chunk

    def on_message_complete(self) -> None:
        if not self.headers_complete:  # the end of an interim answer
            self.headers.clear()
            self.reason = ""
            self.framed = False
            self.content_encoding = None
            return
        self._finish()

    def _closed(self) -> None:
        if self.done.done():
            return
        if self.headers_complete and not self.framed:
            self._finish()  # no length given: the body ends with the connection
        elif self.first_byte_at is None:
            self._fail("the connection closed without a response")
        else:
            self._fail("the connection closed before the response was complete")

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _fail(self, message: str) -> None:
        if not self.done.done():
            self.done.set_exception(ProbeError("protocol", message))


def _decoded_body(reader: _ResponseReader, max_body: int) -> tuple[bytes, bool]:
    body = bytes(reader.body)
    if reader.content_encoding not in ("gzip", "deflate", "x-gzip"):
        return body, reader.truncated
    # We never ask for compression, but some servers send it anyway; assertions read text.
    try:
        inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib, detected
        plain = inflater.decompress(body, max_body)
    except zlib.error as exc:
        raise ProbeError("protocol", f"the compressed body is corrupt: {exc}") from None
    return plain, reader.truncated or bool(inflater.unconsumed_tail)


def _peer_not_after(transport: asyncio.Transport) -> datetime | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    certificate = ssl_object.getpeercert()
    not_after = certificate.get("notAfter") if certificate else None
    if not isinstance(not_after, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)


async def _exchange(
    client: ProbeClient,
    method: str,
    target: _Target,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
    timings: PhaseTimings,
    progress: Progress,
) -> HttpResponse:
    """One request and its response on a connection of its own."""
    started = perf_counter()
    payload = _encode_request(method, target, headers, body, client.user_agent)

    def reader_factory() -> _ResponseReader:
        return _ResponseReader(
            head=method == "HEAD", max_body=client.max_body_bytes, progress=progress
        )

    transport, reader = await open_connection(
        target.host,
        target.port,
        reader_factory,
        client=client,
        timings=timings,
        progress=progress,
    )
    try:
        if target.scheme == "https":
            transport = await start_tls(
                transport,
                reader,
                client.ssl_context,
                target.host,
                timings=timings,
                progress=progress,
            )
        progress.phase = "waiting for the first byte"
        transport.write(payload)
        sent = perf_counter()
        try:
            await reader.done
        except ProbeError as exc:
            exc.timings = timings
            raise
        ended = perf_counter()
        if reader.first_byte_at is not None:
            timings.first_byte_ms = (reader.first_byte_at - sent) * 1000
        timings.total_ms = (ended - started) * 1000
        body_bytes, truncated = _decoded_body(reader, client.max_body_bytes)
        return HttpResponse(
            url="",
            status=reader.status,
            reason=reader.reason,
            http_version=reader.parser.get_http_version(),
            headers=reader.headers,
            body=body_bytes,
            body_truncated=truncated,
            timings=timings,
            cert_not_after=_peer_not_after(transport),
        )
    finally:
        transport.close()


def _redirect_method(status: int, method: str) -> str:
    # RFC 9110 15.4: 303 turns into GET; 301/302 after POST do so in every browser.
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


async def fetch(client: ProbeClient, request: HttpRequest) -> HttpResponse:
    """Send `request` on a new connection, following redirects if asked, within its timeout.

    Raises ProbeError when the target cannot be reached or does not answer in time, and
    ProbeSetupError when the request itself is malformed.
    """
    url = request.url
    target = parse_url(url)
    method = request.method.upper()
    headers = list(request.headers)
    body = request.body
    total = PhaseTimings()
    hop = PhaseTimings()
    progress = Progress()
    redirects: list[str] = []
    started = perf_counter()
    try:
        async with asyncio.timeout(request.timeout_s):
            while True:
                hop = PhaseTimings()
                response = await _exchange(client, method, target, headers, body, hop, progress)
                total.add(hop)
                location = response.header("location")
                if (
                    not request.follow_redirects
                    or response.status not in REDIRECT_STATUSES
                    or not location
                ):
                    break
                if len(redirects) >= client.max_redirects:
                    raise ProbeError(
                        "too_many_redirects",
                        f"more than {client.max_redirects} redirects (last to {location})",
                        timings=total,
                    )
                redirects.append(url)
                url = urljoin(url, location)
                try:
                    next_target = parse_url(url)
                except ProbeSetupError as exc:
                    raise ProbeError(
                        "protocol", f"redirected to an unusable URL: {exc}", timings=total
                    ) from None
                new_method = _redirect_method(response.status, method)
                if new_method != method:
                    body = None
                    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                if next_target.origin != target.origin:
                    headers = [(k, v) for k, v in headers if k.lower() not in _CREDENTIAL_HEADERS]
                method, target = new_method, next_target
    except TimeoutError:
        total.add(hop)
        total.total_ms = (perf_counter() - started) * 1000
        raise ProbeError(
            "timeout",
            f"timed out after {request.timeout_s:g} s {progress.phase}",
            timings=total,
        ) from None
    except ProbeError as exc:
        if exc.timings is not total:
            total.add(exc.timings)
        total.total_ms = (perf_counter() - started) * 1000
        exc.timings = total
        raise
    total.total_ms = (perf_counter() - started) * 1000
    response.url = url
    response.redirects = redirects
    response.timings = total
    return response
