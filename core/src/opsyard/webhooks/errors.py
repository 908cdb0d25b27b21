"""Error codes of outbound webhooks."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

SUBSCRIPTION_DISABLED = ErrorCode(
    "webhooks.subscription_disabled",
    Category.USER_FIXABLE,
    409,
    "Webhook subscription is disabled",
    "Enable the subscription (PATCH it with enabled=true) before redelivering to it.",
)

ERROR_CODES: tuple[ErrorCode, ...] = (SUBSCRIPTION_DISABLED,)
