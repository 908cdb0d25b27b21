"""Error codes of the post-mortems plugin."""

from __future__ import annotations

from opsyard.errors import Category, ErrorCode

TOO_MANY_ITEMS = ErrorCode(
    "postmortems.too_many_action_items",
    Category.USER_FIXABLE,
    422,
    "A post-mortem has at most three action items",
    "Three owned items get done; more get ignored. Choose the three that matter most and "
    "put further ideas in the post-mortem's parking lot, which has no owner and no deadline.",
)
NOT_FOUND = ErrorCode(
    "postmortems.not_found",
    Category.USER_FIXABLE,
    404,
    "No such post-mortem or action item in this team",
    "Check the number in the address; list the team's post-mortems to find it.",
)
OWNER_NOT_MEMBER = ErrorCode(
    "postmortems.owner_not_member",
    Category.USER_FIXABLE,
    422,
    "The owner must be a member of the team",
    "Choose someone in the team, or add them to the team first.",
)
INVALID_DEADLINE = ErrorCode(
    "postmortems.invalid_deadline",
    Category.USER_FIXABLE,
    422,
    "The deadline is not valid",
    "Give a date (YYYY-MM-DD) that is not in the past, or 'sprint+k' for the end of the "
    "sprint k sprints from now ('sprint+0' is the end of this sprint).",
)
EXTENSIONS_EXHAUSTED = ErrorCode(
    "postmortems.extensions_exhausted",
    Category.USER_FIXABLE,
    422,
    "This item's deadline cannot be extended again",
    "The team limits how often a deadline moves. Finish the item, or deprioritize it with "
    "a reason and a revisit date.",
)
INVALID_TRANSITION = ErrorCode(
    "postmortems.invalid_transition",
    Category.USER_FIXABLE,
    409,
    "That change does not apply in the item's or post-mortem's current state",
    "Reload to see the current state; an item that is done or deprioritized must be "
    "reopened first, and only a post-mortem in review can be approved or published.",
)
REASON_REQUIRED = ErrorCode(
    "postmortems.reason_required",
    Category.USER_FIXABLE,
    422,
    "A reason is required",
    "Say why: deprioritizing an item or moving its deadline is kept on record.",
)
EVIDENCE_REQUIRED = ErrorCode(
    "postmortems.evidence_required",
    Category.USER_FIXABLE,
    422,
    "Marking an item done needs evidence",
    "Give a link (a merged change, a closed issue) or a note that says what was done.",
)
APPROVAL_REQUIRED = ErrorCode(
    "postmortems.approval_required",
    Category.USER_FIXABLE,
    409,
    "A reviewer must approve the post-mortem before it is published",
    "Ask the reviewer to approve it; the reviewer cannot be one of its authors.",
)
INVALID_POSTMORTEM = ErrorCode(
    "postmortems.invalid",
    Category.USER_FIXABLE,
    422,
    "The post-mortem is not valid",
    "Fix the fields named in the problem and send it again.",
)
INVALID_SETTINGS = ErrorCode(
    "postmortems.invalid_settings",
    Category.USER_FIXABLE,
    422,
    "The post-mortem settings are not valid",
    "Escalate after 1 to 12 sprints, allow 0 to 10 extensions, remind 0 to 14 days "
    "ahead, and choose the team lead and escalation contact from the team's members.",
)

ERROR_CODES: tuple[ErrorCode, ...] = (
    TOO_MANY_ITEMS,
    NOT_FOUND,
    OWNER_NOT_MEMBER,
    INVALID_DEADLINE,
    EXTENSIONS_EXHAUSTED,
    INVALID_TRANSITION,
    REASON_REQUIRED,
    EVIDENCE_REQUIRED,
    APPROVAL_REQUIRED,
    INVALID_POSTMORTEM,
    INVALID_SETTINGS,
)
