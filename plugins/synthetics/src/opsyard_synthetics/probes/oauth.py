"""OAuth 2.0 client credentials (RFC 6749 section 4.4): one token request per check run.

Tokens are never cached: each run exchanges its credentials again, so the check measures the
token endpoint too and notices when it breaks.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from opsyard_synthetics.probes.client import ProbeClient
from opsyard_synthetics.probes.errors import ProbeError
from opsyard_synthetics.probes.http import HttpRequest, fetch
from opsyard_synthetics.probes.timings import PhaseTimings


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """The access token the endpoint issued and how long getting it took."""

    access_token: str
    token_type: str
    timings: PhaseTimings


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 2.3.1: the id and secret are form-encoded before they are joined.
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


async def fetch_client_credentials_token(
    client: ProbeClient,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str | None = None,
    audience: str | None = None,
    timeout_s: float = 10.0,
) -> OAuthToken:
    """POST grant_type=client_credentials to `token_url`, authenticating with HTTP Basic.

    Raises ProbeError ("auth") when the endpoint refuses or answers without an access token.
    """
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    if audience:
        form["audience"] = audience
    response = await fetch(
        client,
        HttpRequest(
            method="POST",
            url=token_url,
            headers=[
                ("Authorization", _basic_credentials(client_id, client_secret)),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body=urlencode(form).encode("ascii"),
            timeout_s=timeout_s,
        ),
    )
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    if not 200 <= response.status < 300:
        # The endpoint's `error` code says what is wrong without echoing anything sent.
        code = document.get("error") if isinstance(document, dict) else None
        detail = f" ({code})" if isinstance(code, str) else ""
        raise ProbeError(
            "auth",
            f"the token endpoint answered {response.status}{detail}",
            timings=response.timings,
        )
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise ProbeError(
            "auth", "the token endpoint answered without an access_token", timings=response.timings
        )
    token_type = document.get("token_type") if isinstance(document, dict) else None
    return OAuthToken(
        token, token_type if isinstance(token_type, str) else "Bearer", response.timings
    )
