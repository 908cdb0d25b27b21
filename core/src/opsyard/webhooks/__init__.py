"""Outbound webhooks: per-team subscriptions to events, signed per Standard Webhooks and
delivered from a database-kept retry schedule by the ``core.webhooks.deliver`` job."""
