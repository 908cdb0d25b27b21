"""The TCP probe: can a new connection to host:port be opened, and how fast."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.connect import Progress, open_connection
from opsyard_synthetics.probes.errors import ProbeError
from opsyard_synthetics.probes.timings import PhaseTimings


@dataclass(slots=True)
class TcpResult:
    """Whether the connection opened; `error` says why not (refused, timed out, no such host)."""

    connected: bool
    timings: PhaseTimings
    error: str | None = None


async def probe_tcp(client: ProbeClient, *, host: str, port: int, timeout_s: float) -> TcpResult:
    """Open and close one connection. A refusal is an answer, not an exception: a check may
    assert that a port is closed. Only an address this location may not probe raises."""
    timings = PhaseTimings()
    progress = Progress()
    started = perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await open_connection(
                host, port, asyncio.Protocol, client=client, timings=timings, progress=progress
            )
    except TimeoutError:
        timings.total_ms = (perf_counter() - started) * 1000
        return TcpResult(False, timings, f"timed out after {timeout_s:g} s {progress.phase}")
    except ProbeError as exc:
        if exc.failure == "refused_address":
            raise
        timings.total_ms = (perf_counter() - started) * 1000
        return TcpResult(False, timings, exc.message)
    transport.close()
    timings.total_ms = (perf_counter() - started) * 1000
    return TcpResult(True, timings)
