"""Team roles, ordered from least to most trusted."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether someone holding this role may do what `needed` is required for."""
        return self.rank >= needed.rank

    @staticmethod
    def weakest(a: Role, b: Role) -> Role:
        return a if a.rank <= b.rank else b


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.OWNER: 2}
