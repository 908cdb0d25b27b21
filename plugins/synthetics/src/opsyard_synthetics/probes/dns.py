"""The DNS probe: ask a resolver (the check's, or the system's) for one name and record type."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from time import perf_counter

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.resolver

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.errors import ProbeError, ProbeSetupError
from opsyard_synthetics.probes.timings import PhaseTimings


@dataclass(slots=True)
class DnsResult:
    """The answers as text (addresses, names, `10 mail.example.com` for MX) and the rcode.

    A name that does not exist is an answer (`rcode` NXDOMAIN, no answers), not an error: a
    check may assert that a name is gone.
    """

    answers: list[str]
    rcode: str
    resolver: str
    timings: PhaseTimings


def parse_resolver(text: str) -> tuple[str, int]:
    """`1.1.1.1`, `127.0.0.1:5353`, `::1` or `[::1]:5353` as (address, port)."""
    value = text.strip()
    port = 53
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ProbeSetupError(f"invalid resolver {text!r}: expected [address]:port")
            port = int(rest[1:])
    elif value.count(":") == 1:
        address, _, port_text = value.partition(":")
        if not port_text.isdigit():
            raise ProbeSetupError(f"invalid resolver {text!r}: the port must be a number")
        port = int(port_text)
    else:
        address = value
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ProbeSetupError(
            f"invalid resolver {text!r}: give the resolver's IP address, not a name"
        ) from None
    if not 0 < port < 65536:
        raise ProbeSetupError(f"invalid resolver {text!r}: port {port} is out of range")
    return address, port


def _as_text(rdata: dns.rdata.Rdata) -> str:
    kind = rdata.rdtype.name
    if kind in ("A", "AAAA"):
        return str(rdata.address)  # type: ignore[attr-defined]
    if kind == "CNAME":
        return str(rdata.target.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
    if kind == "MX":
        exchange = rdata.exchange.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
        return f"{rdata.preference} {exchange}"  # type: ignore[attr-defined]
    if kind == "TXT":
        return b"".join(rdata.strings).decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    return str(rdata.to_text())


def _resolver(client: ProbeClient, resolver: str | None) -> tuple[dns.asyncresolver.Resolver, str]:
    if resolver is None:
        try:
            system = dns.asyncresolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            raise ProbeSetupError(
                "this machine has no resolver configured; give the check a resolver"
            ) from None
        return system, "system"
    address, port = parse_resolver(resolver)
    if client.address_allowed is not None and not client.address_allowed(address):
        raise ProbeError("refused_address", f"resolver {address} may not be asked from here")
    chosen = dns.asyncresolver.Resolver(configure=False)
    chosen.nameservers = [dns.nameserver.Do53Nameserver(address, port)]
    return chosen, f"{address}:{port}"


async def probe_dns(
    client: ProbeClient, *, name: str, record_type: str, resolver: str | None, timeout_s: float
) -> DnsResult:
    """Resolve `name` for `record_type`. Raises ProbeError when the resolver does not answer
    in time or answers with a failure (SERVFAIL, REFUSED)."""
    chosen, shown = _resolver(client, resolver)
    chosen.lifetime = timeout_s
    chosen.timeout = timeout_s
    timings = PhaseTimings()
    started = perf_counter()

    def elapsed() -> PhaseTimings:
        timings.dns_ms = timings.total_ms = (perf_counter() - started) * 1000
        return timings

    try:
        answer = await chosen.resolve(name, record_type, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return DnsResult([], "NXDOMAIN", shown, elapsed())
    except dns.resolver.LifetimeTimeout:
        raise ProbeError(
            "timeout", f"resolver {shown} did not answer within {timeout_s:g} s", timings=elapsed()
        ) from None
    except dns.resolver.NoNameservers as exc:
        raise ProbeError(
            "dns", f"resolver {shown} failed to answer for {name}: {exc}", timings=elapsed()
        ) from None
    except dns.exception.DNSException as exc:
        raise ProbeError("dns", f"could not resolve {name}: {exc}", timings=elapsed()) from None
    answers = [_as_text(rdata) for rdata in answer.rrset] if answer.rrset is not None else []
    return DnsResult(answers, dns.rcode.to_text(answer.response.rcode()), shown, elapsed())


async def resolve_addresses(client: ProbeClient, resolver: str, host: str) -> list[str]:
    """The IPv4 addresses of `host` from `resolver`, else its IPv6 ones; ProbeError if none."""
    chosen, shown = _resolver(client, resolver)
    for record_type in ("A", "AAAA"):
        try:
            answer = await chosen.resolve(host, record_type, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            raise ProbeError(
                "dns", f"could not resolve {host}: the name does not exist (resolver {shown})"
            ) from None
        except dns.resolver.LifetimeTimeout:
            raise ProbeError(
                "dns", f"could not resolve {host}: resolver {shown} did not answer"
            ) from None
        except dns.exception.DNSException as exc:
            raise ProbeError("dns", f"could not resolve {host}: {exc}") from None
        if answer.rrset is not None:
            return [_as_text(rdata) for rdata in answer.rrset]
    raise ProbeError("dns", f"could not resolve {host}: it has no A or AAAA record")
