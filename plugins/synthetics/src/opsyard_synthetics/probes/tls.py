"""The TLS probe: the certificate a server presents and how many days it has left.

The handshake does not verify the chain: the point is to read the expiry of whatever the
server presents, including a self-signed or already expired certificate, which a verifying
handshake would refuse before we could read it. Whether HTTPS requests trust the server is
the HTTP probe's concern.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

from cryptography import x509

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.connect import Progress, open_connection, start_tls
from opsyard_synthetics.probes.errors import ProbeError
from opsyard_synthetics.probes.timings import PhaseTimings

SECONDS_PER_DAY = 86400.0


@dataclass(slots=True)
class TlsResult:
    """The leaf certificate's validity and names, and the handshake's timings."""

    not_before: datetime
    not_after: datetime
    days_left: float
    subject: str
    issuer: str
    timings: PhaseTimings


def _reading_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def days_left(not_after: datetime, now: datetime | None = None) -> float:
    """Days (with fractions) from `now` until `not_after`; negative once expired."""
    moment = now or datetime.now(UTC)
    return (not_after - moment).total_seconds() / SECONDS_PER_DAY


async def probe_tls(
    client: ProbeClient, *, host: str, port: int, server_name: str | None, timeout_s: float
) -> TlsResult:
    """Handshake with host:port (SNI `server_name`, else `host`) and read its certificate.

    Raises ProbeError when the server cannot be reached or the handshake fails.
    """
    timings = PhaseTimings()
    progress = Progress()
    started = perf_counter()
    transport: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(timeout_s):
            transport, protocol = await open_connection(
                host, port, asyncio.Protocol, client=client, timings=timings, progress=progress
            )
            transport = await start_tls(
                transport,
                protocol,
                _reading_context(),
                server_name or host,
                timings=timings,
                progress=progress,
            )
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except TimeoutError:
        timings.total_ms = (perf_counter() - started) * 1000
        raise ProbeError(
            "timeout", f"timed out after {timeout_s:g} s {progress.phase}", timings=timings
        ) from None
    finally:
        if transport is not None:
            transport.close()
    timings.total_ms = (perf_counter() - started) * 1000
    if not der:
        raise ProbeError("tls", "the server presented no certificate", timings=timings)
    certificate = x509.load_der_x509_certificate(der)
    return TlsResult(
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        days_left=days_left(certificate.not_valid_after_utc),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        timings=timings,
    )
