"""The one way a probe says it could not get an answer from its target."""

from __future__ import annotations

from typing import Literal

from opsyard_synthetics.probes.timings import PhaseTimings

ProbeFailure = Literal[
    "dns", "connect", "tls", "timeout", "protocol", "too_many_redirects", "refused_address", "auth"
]


class ProbeError(Exception):
    """The target could not be reached or answered something that is not HTTP.

    `failure` says which phase went wrong, `message` says it in words ("connection refused
    (127.0.0.1:8080)"), and `timings` holds the phases measured up to the failure.
    """

    def __init__(
        self, failure: ProbeFailure, message: str, *, timings: PhaseTimings | None = None
    ) -> None:
        super().__init__(message)
        self.failure: ProbeFailure = failure
        self.message = message
        self.timings = timings or PhaseTimings()


class ProbeSetupError(ValueError):
    """The probe could not be started on our side: an invalid URL, a header with a line
    break, no resolver configured on this machine. The check, not the target, is at fault."""
