"""Error codes of the synthetics plugin."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

INVALID_CHECKS_FILE = ErrorCode(
    "synthetics.invalid_checks_file",
    Category.USER_FIXABLE,
    422,
    "The checks file is not valid; nothing was applied",
    "Fix every problem listed (each names its line, column and field) and apply the whole "
    "file again: a file is applied whole or not at all.",
)
INVALID_CHECK = ErrorCode(
    "synthetics.invalid_check",
    Category.USER_FIXABLE,
    422,
    "The check is not valid",
    "Fix the fields named in the problem and send the check again.",
)
NOT_FOUND = ErrorCode(
    "synthetics.not_found",
    Category.USER_FIXABLE,
    404,
    "No such check, secret or maintenance window in this team",
    "Check the name in the address; list the team's checks, secrets or windows to find it.",
)
CHECK_EXISTS = ErrorCode(
    "synthetics.check_exists",
    Category.USER_FIXABLE,
    409,
    "A check with that name already exists in this team",
    "Choose another name, or change the existing check with PUT on its address.",
)
UNKNOWN_SECRET = ErrorCode(
    "synthetics.unknown_secret",
    Category.USER_FIXABLE,
    422,
    "A check uses a secret the team has not set",
    "Set the secret first (`opsyard synthetics secrets set --team SLUG NAME --value-stdin`, "
    "or PUT /secrets/NAME), then apply again.",
)
UNKNOWN_DEPENDENCY = ErrorCode(
    "synthetics.unknown_dependency",
    Category.USER_FIXABLE,
    422,
    "A check depends on a check the team does not have",
    "Name an existing check of the team in depends_on, or create that check first.",
)
INVALID_SECRET = ErrorCode(
    "synthetics.invalid_secret",
    Category.USER_FIXABLE,
    422,
    "The secret is not valid",
    "A secret's name is a letter followed by letters, digits or underscores (at most 64), "
    "and its value is not empty (at most 8 KiB).",
)
SECRET_IN_USE = ErrorCode(
    "synthetics.secret_in_use",
    Category.USER_FIXABLE,
    409,
    "A check of the team still uses this secret",
    "Remove the secret from the checks named in the problem (apply the changed file), then "
    "delete it; to change its value, set it again instead.",
)
INVALID_WINDOW = ErrorCode(
    "synthetics.invalid_window",
    Category.USER_FIXABLE,
    422,
    "The maintenance window is not valid",
    "Give a start and an end with a time zone, the end after the start, at most 30 days "
    "apart; name a check of the team or none for all of them.",
)
INVALID_SETTINGS = ErrorCode(
    "synthetics.invalid_settings",
    Category.USER_FIXABLE,
    422,
    "The synthetics settings are not valid",
    "Failure and success thresholds are 1 to 10 consecutive runs, retention is 1 to 90 days.",
)
RUNS_NOT_STORED = ErrorCode(
    "synthetics.runs_not_stored",
    Category.RETRYABLE,
    503,
    "Some runs of this location could not be stored",
    "Their checks run again once their claims expire (a minute or so past their timeout). "
    "If this repeats, check the database the workers write to; the worker log has each "
    "failure in full.",
)

ERROR_CODES: tuple[ErrorCode, ...] = (
    INVALID_CHECKS_FILE,
    INVALID_CHECK,
    NOT_FOUND,
    CHECK_EXISTS,
    UNKNOWN_SECRET,
    UNKNOWN_DEPENDENCY,
    INVALID_SECRET,
    SECRET_IN_USE,
    INVALID_WINDOW,
    INVALID_SETTINGS,
    RUNS_NOT_STORED,
)
