"""Error codes of notification channels and paging."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

INVALID_CHANNEL = ErrorCode(
    "notifications.invalid_channel",
    Category.USER_FIXABLE,
    422,
    "The channel settings are not valid",
    "Fix the fields listed in 'errors': a 32-character PagerDuty routing key, a Slack "
    "incoming-webhook URL, an http(s) webhook URL, or valid email addresses.",
)
UNKNOWN_CHANNEL = ErrorCode(
    "notifications.unknown_channel",
    Category.USER_FIXABLE,
    422,
    "No such channel in this team",
    "List the team's channels at /api/v1/teams/{team}/channels and use one of their ids.",
)
CHANNEL_DISABLED = ErrorCode(
    "notifications.channel_disabled",
    Category.USER_FIXABLE,
    409,
    "The channel is switched off",
    "Enable the channel (PATCH with enabled=true) before sending to it.",
)
SMTP_NOT_CONFIGURED = ErrorCode(
    "notifications.smtp_not_configured",
    Category.OPERATOR_FIXABLE,
    503,
    "Email is not set up on this portal",
    "An operator must set OPSYARD_SMTP_HOST (and the other OPSYARD_SMTP_* settings).",
)
INVALID_SEVERITY = ErrorCode(
    "notifications.invalid_severity",
    Category.USER_FIXABLE,
    422,
    "Unknown severity",
    "Use one of critical, error, warning, info.",
)
INVALID_DEDUP_KEY = ErrorCode(
    "notifications.invalid_dedup_key",
    Category.USER_FIXABLE,
    422,
    "The dedup key is not valid",
    "Give a non-empty dedup key of at most 255 characters.",
)
INVALID_ACTION = ErrorCode(
    "notifications.invalid_action",
    Category.USER_FIXABLE,
    422,
    "Unknown page action",
    "Use one of trigger, acknowledge, resolve.",
)
NOT_RETRYABLE = ErrorCode(
    "notifications.not_retryable",
    Category.USER_FIXABLE,
    409,
    "Only failed notifications can be sent again",
    "Wait for the pending delivery to finish; sent notifications are not sent twice.",
)

NOTIFICATION_ERROR_CODES: tuple[ErrorCode, ...] = (
    INVALID_CHANNEL,
    UNKNOWN_CHANNEL,
    CHANNEL_DISABLED,
    SMTP_NOT_CONFIGURED,
    INVALID_SEVERITY,
    INVALID_DEDUP_KEY,
    INVALID_ACTION,
    NOT_RETRYABLE,
)
