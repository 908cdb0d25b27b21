"""Sends one signed message and reports what happened, never raising."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from opsyard.errors import OpsyardError
from opsyard.net import check_target

# Enough of a receiver's answer to explain a failure in the delivery log.
EXCERPT_BYTES = 300
ERROR_LENGTH = 500


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome: the status code when an answer came, else the error."""

    status_code: int | None
    duration_ms: int
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(
    client: httpx.Client, *, url: str, body: str, headers: dict[str, str], allow_private: bool
) -> SendResult:
    """POST `body` to `url`, checking the target again first since DNS answers can change."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_target(url, allow_private=allow_private)
        # Streamed so a receiver answering with a huge body costs us only the excerpt.
        with client.stream("POST", url, content=body.encode(), headers=headers) as response:
            if 200 <= response.status_code < 300:
                return SendResult(response.status_code, elapsed())
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        text = excerpt[:EXCERPT_BYTES].decode(errors="replace").strip()
        error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
        return SendResult(response.status_code, elapsed(), error[:ERROR_LENGTH])
    except OpsyardError as exc:
        return SendResult(None, elapsed(), f"{exc.code}: {exc.detail}"[:ERROR_LENGTH])
    except httpx.TimeoutException as exc:
        return SendResult(None, elapsed(), f"timed out: {type(exc).__name__}")
    # A URL that cannot be used, a refused connection, or anything unforeseen fails this
    # attempt only: raising would abandon the whole batch, whose other deliveries would then
    # be sent twice.
    except Exception as exc:
        return SendResult(None, elapsed(), f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH])
