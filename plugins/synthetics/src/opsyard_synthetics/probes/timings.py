"""How long each phase of a probe took, in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PhaseTimings:
    """Durations of the phases of one probe, in the order they happen.

    Each phase is its own duration, not an offset from the start: `dns_ms` resolving the
    host, `connect_ms` the TCP handshake, `tls_ms` the TLS handshake, `first_byte_ms` from the
    request being written to the first byte of the answer, and `total_ms` the whole probe
    including reading the body. A phase that did not happen (no DNS for an IP address, no TLS
    for plain HTTP) is 0. Over redirects each phase adds up the hops.
    """

    dns_ms: float = 0.0
    connect_ms: float = 0.0
    tls_ms: float = 0.0
    first_byte_ms: float = 0.0
    total_ms: float = 0.0

    def add(self, other: PhaseTimings) -> None:
        """Add the phases of a later hop (a redirect) to these."""
        self.dns_ms += other.dns_ms
        self.connect_ms += other.connect_ms
        self.tls_ms += other.tls_ms
        self.first_byte_ms += other.first_byte_ms
        self.total_ms += other.total_ms

    def as_dict(self) -> dict[str, float]:
        """The phases rounded to microseconds, for storing."""
        return {
            "dns_ms": round(self.dns_ms, 3),
            "connect_ms": round(self.connect_ms, 3),
            "tls_ms": round(self.tls_ms, 3),
            "first_byte_ms": round(self.first_byte_ms, 3),
            "total_ms": round(self.total_ms, 3),
        }
