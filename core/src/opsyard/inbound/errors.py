"""Error codes of inbound webhooks."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

SIGNATURE_INVALID = ErrorCode(
    "webhooks.signature_invalid",
    Category.USER_FIXABLE,
    401,
    "Webhook signature not valid",
    "Sign the raw request body with the integration's secret, as the provider documents "
    "(GitHub: X-Hub-Signature-256; Alertmanager: Authorization: Bearer <secret>; Standard "
    "Webhooks: webhook-id, webhook-timestamp, webhook-signature).",
)
PAYLOAD_TOO_LARGE = ErrorCode(
    "webhooks.payload_too_large",
    Category.USER_FIXABLE,
    413,
    "Webhook body too large",
    "Send a smaller body; operators can raise OPSYARD_INBOUND_MAX_BODY_BYTES.",
)
PAYLOAD_INVALID = ErrorCode(
    "webhooks.payload_invalid",
    Category.USER_FIXABLE,
    400,
    "Webhook body not understood",
    'Send a JSON object in the provider\'s documented format (Alertmanager: version "4"), '
    "with the provider's delivery header.",
)

ERROR_CODES: tuple[ErrorCode, ...] = (SIGNATURE_INVALID, PAYLOAD_TOO_LARGE, PAYLOAD_INVALID)
