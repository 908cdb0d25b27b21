"""Standard Webhooks signing: secrets, the message body and the three headers."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64, as Standard Webhooks prescribes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_body(*, event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The JSON text sent, exactly as signed: ``{"type", "timestamp", "data"}``."""
    timestamp = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": timestamp, "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def signature(*, secrets_in_use: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated, so a
    receiver still holding the old secret during a rotation verifies as well as one with the
    new."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
        for secret in secrets_in_use
    )


def headers(
    *, secrets_in_use: Sequence[str], msg_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """Every header of one signed message."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(
            secrets_in_use=secrets_in_use, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }
