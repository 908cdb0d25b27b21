"""Domain events: declared by plugins, written in the caller's transaction (an outbox), then
dispatched by the ``core.events.dispatch`` job to every plugin's ``handle_event`` hook and to
the team's webhook subscriptions.

``emit`` is what plugins call; ``publish`` hands an event to the handlers at once, without the
outbox, and ``validate`` checks an event against its declared type.
"""

from opsyard.events.service import emit, list_events, publish, validate

__all__ = ["emit", "list_events", "publish", "validate"]
