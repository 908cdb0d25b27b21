"""Imports every core model so that `metadata` knows all core tables (for Alembic)."""

from opsyard.audit.models import AuditEntry
from opsyard.auth.models import ApiToken, User
from opsyard.calendars.models import TeamCalendar, TeamSprint
from opsyard.events.models import StoredEvent
from opsyard.inbound.models import InboundIntegration, ReceivedWebhook
from opsyard.jobs.models import JobLease, JobRun
from opsyard.notifications.models import Channel, Notification, Page
from opsyard.oncall.models import Override, Rotation, RotationMember
from opsyard.teams.models import Membership, Team, TeamPlugin
from opsyard.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Channel",
    "InboundIntegration",
    "JobLease",
    "JobRun",
    "Membership",
    "Notification",
    "Override",
    "Page",
    "ReceivedWebhook",
    "Rotation",
    "RotationMember",
    "StoredEvent",
    "Team",
    "TeamCalendar",
    "TeamPlugin",
    "TeamSprint",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
