"""Domain events, handed to every plugin's `handle_event` hook.

This module validates and dispatches in-process. The persisted outbox and outbound webhooks
build on `publish` (see the scheduling and webhooks work).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from opsyard import errors
from opsyard.errors import FieldProblem, OpsyardError
from opsyard.extension import Event
from opsyard.plugins import PluginRegistry

log = logging.getLogger(__name__)


def validate(registry: PluginRegistry, event: Event) -> None:
    """Raise unless `event` names a declared type and its payload matches that type's schema."""
    event_type = registry.event_types.get(event.name)
    if event_type is None:
        raise OpsyardError(errors.VALIDATION_FAILED, f"Unknown event type {event.name!r}.")
    try:
        event_type.payload.model_validate(event.payload)
    except ValidationError as exc:
        fields = [
            FieldProblem("/payload/" + "/".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors()
        ]
        raise OpsyardError(
            errors.VALIDATION_FAILED,
            f"Payload of {event.name} does not match its schema.",
            fields=fields,
        ) from exc


def publish(registry: PluginRegistry, event: Event) -> int:
    """Validate `event` and hand it to every plugin's handler; returns how many handled it.

    A failing handler is logged and does not keep the event from the others.
    """
    validate(registry, event)
    return sum(1 for _ in registry.call_each("handle_event", event=event))
