"""Resolving a host and opening a fresh TCP (and TLS) connection, timing each phase."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter
from typing import TypeVar

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.dns import resolve_addresses
from opsyard_synthetics.probes.errors import ProbeError
from opsyard_synthetics.probes.timings import PhaseTimings

P = TypeVar("P", bound=asyncio.BaseProtocol)


@dataclass(slots=True)
class Progress:
    """What a probe is doing now, so a timeout can say where it happened."""

    phase: str = "starting"


@lru_cache(maxsize=4096)
def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def resolve(
    host: str, port: int, *, client: ProbeClient, timings: PhaseTimings, progress: Progress
) -> list[str]:
    """The addresses of `host` in the resolver's order; an IP address needs no lookup."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    progress.phase = f"resolving {host}"
    started = perf_counter()
    if client.resolver is not None:
        try:
            return await resolve_addresses(client, client.resolver, host)
        except ProbeError as exc:
            exc.timings = timings
            raise
        finally:
            timings.dns_ms = (perf_counter() - started) * 1000
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError(
            "dns", f"could not resolve {host}: {exc.strerror}", timings=timings
        ) from None
    finally:
        timings.dns_ms = (perf_counter() - started) * 1000
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def open_connection(
    host: str,
    port: int,
    protocol_factory: Callable[[], P],
    *,
    client: ProbeClient,
    timings: PhaseTimings,
    progress: Progress,
) -> tuple[asyncio.Transport, P]:
    """A new TCP connection to `host`, trying its addresses in order until one answers."""
    addresses = await resolve(host, port, client=client, timings=timings, progress=progress)
    loop = asyncio.get_running_loop()
    failure: ProbeError | None = None
    started = perf_counter()
    for address in addresses:
        if client.address_allowed is not None and not client.address_allowed(address):
            raise ProbeError(
                "refused_address",
                f"{host} resolves to {address}, which this location may not probe",
                timings=timings,
            )
        progress.phase = f"connecting to {_where(address, port)}"
        try:
            transport, protocol = await loop.create_connection(protocol_factory, address, port)
        except ConnectionRefusedError:
            failure = ProbeError("connect", f"connection refused ({_where(address, port)})")
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
            failure = ProbeError("connect", f"could not connect to {_where(address, port)}: {why}")
        else:
            timings.connect_ms = (perf_counter() - started) * 1000
            return transport, protocol
    timings.connect_ms = (perf_counter() - started) * 1000
    assert failure is not None  # resolve() never returns an empty list
    failure.timings = timings
    raise failure


async def start_tls(
    transport: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    server_name: str,
    *,
    timings: PhaseTimings,
    progress: Progress,
) -> asyncio.Transport:
    """The TLS handshake over an open connection; the returned transport replaces it."""
    progress.phase = "in the TLS handshake"
    loop = asyncio.get_running_loop()
    started = perf_counter()
    try:
        # An IP address here is matched against the certificate's IP entries; Python sends
        # SNI only for names.
        tls = await loop.start_tls(transport, protocol, context, server_hostname=server_name)
    except ssl.SSLCertVerificationError as exc:
        transport.abort()
        raise ProbeError(
            "tls", f"TLS certificate not trusted: {exc.verify_message}", timings=timings
        ) from exc
    except (ssl.SSLError, ConnectionError) as exc:
        transport.abort()
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise ProbeError("tls", f"TLS handshake failed: {reason}", timings=timings) from exc
    finally:
        timings.tls_ms = (perf_counter() - started) * 1000
    if tls is None:  # only when the connection closed during the handshake
        raise ProbeError("tls", "the connection closed during the TLS handshake", timings=timings)
    return tls
