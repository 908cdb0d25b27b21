"""One HTTP POST with the outbound guard, and the reading of an answer every HTTP provider
shares: 2xx delivered; 408, 429 and 5xx worth retrying; any other 4xx refused for good."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from opsyard import net
from opsyard.config import Settings
from opsyard.errors import OpsyardError
from opsyard.notifications.providers.base import Outcome, clip

RETRYABLE_STATUSES = frozenset({408, 425, 429})

Describe = Callable[[httpx.Response], str]


def _plain(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {clip(response.text, 300)}"


def retry_after(response: httpx.Response) -> int | None:
    """Seconds the provider asked us to wait (delta-seconds form only)."""
    value = response.headers.get("retry-after", "").strip()
    return int(value) if value.isdigit() else None


def post(
    client: httpx.Client,
    url: str,
    *,
    settings: Settings,
    content: bytes,
    headers: dict[str, str],
    describe: Describe = _plain,
) -> Outcome:
    """POST `content` to `url` and classify the answer."""
    try:
        # Checked again before every send: DNS answers can change after the channel was made.
        net.check_target(url, allow_private=settings.allow_private_targets)
    except OpsyardError as exc:
        return Outcome.refused(exc.detail)
    try:
        response = client.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        # A Slack webhook URL is a credential: keep it out of the log anyone in the team reads.
        reason = str(exc).replace(url, "<channel URL>")
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {reason}")
    text = clip(response.text)
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(delivered=True, status=status, response=text)
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return Outcome(
        delivered=False,
        retryable=retryable,
        status=status,
        response=text,
        error=describe(response),
        retry_after_seconds=retry_after(response) if retryable else None,
    )
