"""Imports every core model so that `metadata` knows all core tables (for Alembic)."""

from opsyard.audit.models import AuditEntry
from opsyard.auth.models import ApiToken, User
from opsyard.teams.models import Membership, Team, TeamPlugin

__all__ = ["ApiToken", "AuditEntry", "Membership", "Team", "TeamPlugin", "User"]
