"""Secrets that rotate with an overlap, shared by outbound subscriptions and inbound integrations.

During the overlap the previous secret stays valid beside the new one (outbound: messages are
signed with both; inbound: either verifies), so the other side can switch without losing a
message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class RotatingSecret(Protocol):
    """A row holding a current secret and, for a while after a rotation, the previous one."""

    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


def rotate(holder: RotatingSecret, *, new_secret: str, now: datetime, overlap: timedelta) -> None:
    """Make `new_secret` current; keep the old one valid for `overlap` (none if zero)."""
    keep_old = overlap > timedelta()
    holder.previous_secret = holder.secret if keep_old else None
    holder.previous_secret_expires_at = now + overlap if keep_old else None
    holder.secret = new_secret


def secrets_in_use(holder: RotatingSecret, *, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    in_use = [holder.secret]
    expires = holder.previous_secret_expires_at
    if holder.previous_secret and expires is not None and now < expires:
        in_use.append(holder.previous_secret)
    return in_use
