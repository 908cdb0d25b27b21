"""A post-mortem as one Markdown document, for wikis, repositories and e-mail."""

from __future__ import annotations

from datetime import datetime

from opsyard.auth.models import User
from opsyard_postmortems.models import DEPRIORITIZED, DONE, OPEN, ActionItem, PostMortem

NONE = "_None._"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _person(user: User | None) -> str:
    if user is None:
        return "nobody"
    return f"{user.display_name} <{user.email}>" if user.name else user.email


def _cell(text: str) -> str:
    # A table cell is one line, and a pipe would end it early.
    return " ".join(text.split()).replace("|", "\\|")


def _link_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _section(title: str, body: str) -> list[str]:
    return [f"## {title}", "", body.strip() or NONE, ""]


def _window(postmortem: PostMortem) -> str:
    start = _when(postmortem.incident_started_at)
    if postmortem.incident_ended_at is None:
        return f"{start}, still ongoing"
    return f"{start} to {_when(postmortem.incident_ended_at)}"


def _reviewer(postmortem: PostMortem) -> str:
    if postmortem.reviewer is None:
        return "not yet chosen"
    text = _person(postmortem.reviewer)
    if postmortem.approved_at is not None:
        text += f", approved {_when(postmortem.approved_at)}"
    return text


def _item_status(item: ActionItem) -> str:
    if item.status == OPEN and item.escalated_at is not None:
        return "open, escalated"
    if item.status == OPEN and item.decision_needed:
        return "open, decision needed"
    return item.status


def _item_deadline(item: ActionItem) -> str:
    if item.deadline_rule:
        return f"{item.deadline} (end of {item.deadline_rule.replace('+', ' +')})"
    return item.deadline.isoformat()


def _item_evidence(item: ActionItem) -> str:
    if item.status == DONE:
        parts = [f"<{item.evidence_url}>" if item.evidence_url else "", item.evidence_note or ""]
        return " ".join(part for part in parts if part)
    if item.status == DEPRIORITIZED:
        who = _person(item.deprioritized_by) if item.deprioritized_by else "unknown"
        return f"Deprioritized by {who}: {item.deprioritized_reason}; revisit on {item.revisit_on}"
    return f"<{item.tracker_url}>" if item.tracker_url else ""


def _items(postmortem: PostMortem) -> list[str]:
    lines = ["## Action items", ""]
    if not postmortem.items:
        return [*lines, NONE, ""]
    lines += [
        "| # | Item | Owner | Deadline | Status | Evidence |",
        "|---|---|---|---|---|---|",
    ]
    for number, item in enumerate(postmortem.items, start=1):
        cells = [
            str(number),
            item.title,
            _person(item.owner),
            _item_deadline(item),
            _item_status(item),
            _item_evidence(item),
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return [*lines, ""]


def _timeline(postmortem: PostMortem) -> list[str]:
    lines = ["## Timeline", ""]
    if not postmortem.timeline:
        return [*lines, NONE, ""]
    for entry in postmortem.timeline:
        # Continuation lines are indented so a multi-line entry stays one list item.
        text = "\n  ".join(entry.text.strip().splitlines())
        lines.append(f"- **{_when(entry.occurred_at)}** {text}")
    return [*lines, ""]


def _bullets(title: str, entries: list[str]) -> list[str]:
    lines = [f"## {title}", ""]
    if not entries:
        return [*lines, NONE, ""]
    return [*lines, *(f"- {entry}" for entry in entries), ""]


def to_markdown(postmortem: PostMortem) -> str:
    """The whole post-mortem as Markdown; its text fields are Markdown already."""
    authors = ", ".join(_person(author.user) for author in postmortem.authors) or "none listed"
    lines = [
        f"# {postmortem.reference}: {postmortem.title}",
        "",
        f"- **Severity:** {postmortem.severity.upper()}",
        f"- **Status:** {postmortem.status.replace('_', ' ')}",
        f"- **Incident window:** {_window(postmortem)}",
        f"- **Authors:** {authors}",
        f"- **Reviewer:** {_reviewer(postmortem)}",
    ]
    if postmortem.published_at is not None:
        lines.append(f"- **Published:** {_when(postmortem.published_at)}")
    lines.append("")
    lines += _section("Summary", postmortem.summary)
    lines += _section("Impact", postmortem.impact)
    lines += _timeline(postmortem)
    lines += _section("Contributing factors", postmortem.contributing_factors)
    lines += _section("Lessons", postmortem.lessons)
    lines += _items(postmortem)
    lines += _bullets("Parking lot", [" ".join(idea.text.split()) for idea in postmortem.ideas])
    lines += _bullets(
        "Links", [f"[{_link_text(link.title)}](<{link.url}>)" for link in postmortem.links]
    )
    return "\n".join(lines).rstrip() + "\n"
