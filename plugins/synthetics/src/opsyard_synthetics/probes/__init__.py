"""Probes: how the runner reaches a target and times each phase of reaching it.

Every probe opens its own connections; nothing is pooled or cached between checks.
"""

from opsyard_synthetics.probes.client import ProbeClient, product_version, user_agent
from opsyard_synthetics.probes.dns import DnsResult, probe_dns
from opsyard_synthetics.probes.errors import ProbeError, ProbeSetupError
from opsyard_synthetics.probes.http import HttpRequest, HttpResponse, fetch
from opsyard_synthetics.probes.oauth import OAuthToken, fetch_client_credentials_token
from opsyard_synthetics.probes.tcp import TcpResult, probe_tcp
from opsyard_synthetics.probes.timings import PhaseTimings
from opsyard_synthetics.probes.tls import TlsResult, probe_tls

__all__ = [
    "DnsResult",
    "HttpRequest",
    "HttpResponse",
    "OAuthToken",
    "PhaseTimings",
    "ProbeClient",
    "ProbeError",
    "ProbeSetupError",
    "TcpResult",
    "TlsResult",
    "fetch",
    "fetch_client_credentials_token",
    "probe_dns",
    "probe_tcp",
    "probe_tls",
    "product_version",
    "user_agent",
]
