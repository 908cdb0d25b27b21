"""What every probe from one location shares: who it says it is and how it treats TLS.

A `ProbeClient` holds settings only. It keeps no connections, tokens or DNS answers between
checks: every check opens its own connections and fetches its own tokens, so a result always
measures the whole path a first-time client takes, and one check can never reuse another's
credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_REDIRECTS = 10


@cache
def product_version() -> str:
    """The installed version of opsyard-synthetics, as sent in the User-Agent."""
    try:
        return version("opsyard-synthetics")
    except PackageNotFoundError:  # running from a source tree without installing it
        return "0+unknown"


def user_agent(location: str) -> str:
    """The User-Agent of probes from `location`; targets can tell locations apart by it."""
    return f"opsyard-synthetics/{product_version()} (location={location})"


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context with the system's trust store, as browsers would use."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class ProbeClient:
    """Settings for the probes of one location.

    `ssl_context` verifies HTTPS targets (tests pass one that trusts their own certificate);
    `max_body_bytes` bounds how much of a response body is read and kept for assertions;
    `resolver` (`address[:port]`) is the DNS server target names are resolved with, instead
    of the system's resolver (`getaddrinfo`, which also reads /etc/hosts);
    `address_allowed`, when given, is asked about every address before connecting to it, so
    an operator can keep checks away from networks they must not reach.
    """

    location: str
    ssl_context: ssl.SSLContext = field(default_factory=default_ssl_context)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_redirects: int = MAX_REDIRECTS
    resolver: str | None = None
    address_allowed: Callable[[str], bool] | None = None

    @property
    def user_agent(self) -> str:
        """`opsyard-synthetics/<version> (location=<name>)`."""
        return user_agent(self.location)
