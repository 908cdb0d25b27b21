"""Hands a verified inbound webhook to the plugins of the team it is addressed to."""

from __future__ import annotations

from collections.abc import Iterable

from opsyard.extension import InboundDelivery
from opsyard.plugins import PluginRegistry


def dispatch(
    registry: PluginRegistry, delivery: InboundDelivery, enabled: Iterable[str]
) -> list[str]:
    """The plugins, among those the team enabled, that acted on `delivery`."""
    return [
        name
        for name, handled in registry.call_each(
            "handle_inbound_webhook", plugins=enabled, delivery=delivery
        )
        if handled
    ]
