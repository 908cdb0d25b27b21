"""Outbound HTTP: one client configuration and a guard against requests to private networks.

Webhook subscriptions and notification channels send requests to URLs that team members type
in. Without a guard, anyone allowed to add a webhook could make the portal call services on
its own network (SSRF). Targets that resolve to loopback, private, link-local or otherwise
non-public addresses are refused unless the operator allows them (tests allow loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from opsyard import errors
from opsyard.errors import FieldProblem, OpsyardError

USER_AGENT = "opsyard"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

TARGET_REFUSED = errors.ErrorCode(
    "net.target_refused",
    errors.Category.USER_FIXABLE,
    422,
    "Target address not allowed",
    "Use a public http(s) URL. Operators can allow private targets with "
    "OPSYARD_ALLOW_PRIVATE_TARGETS=true.",
)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global


def check_target(url: str, *, allow_private: bool, pointer: str = "/url") -> None:
    """Raise `net.target_refused` unless `url` is http(s) and every address it resolves to is
    public (or private targets are allowed). Checked on creation and again before each send,
    since DNS answers can change."""
    try:
        parts = urlsplit(url)
        scheme, hostname, port = parts.scheme, parts.hostname, parts.port
    except ValueError:  # e.g. an unclosed IPv6 bracket or a port out of range
        scheme, hostname, port = "", None, None
    if scheme not in ("http", "https") or not hostname:
        raise OpsyardError(
            TARGET_REFUSED,
            f"{url!r} is not an http(s) URL.",
            fields=[FieldProblem(pointer, "Give a full URL such as https://example.com/hook.")],
        )
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(hostname, port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OpsyardError(
            TARGET_REFUSED,
            f"{hostname!r} does not resolve: {exc.strerror}.",
            fields=[FieldProblem(pointer, "Check the host name.")],
        ) from exc
    private = sorted({str(info[4][0]) for info in infos if not _is_public(str(info[4][0]))})
    if private:
        raise OpsyardError(
            TARGET_REFUSED,
            f"{hostname!r} resolves to a non-public address ({', '.join(private)}).",
            fields=[FieldProblem(pointer, "Use a URL on the public internet.")],
        )


def http_client(*, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """A client with sane timeouts that never follows redirects (a redirect could lead to a
    private address the guard did not check)."""
    return httpx.Client(timeout=timeout, follow_redirects=False, headers={"user-agent": USER_AGENT})
