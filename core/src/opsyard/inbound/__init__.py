"""Inbound webhooks: per-team integrations that GitHub, Alertmanager or any Standard Webhooks
sender call at ``/api/v1/hooks/{provider}/{integration_id}``. A request is verified on its raw
body, stored once per delivery id and answered 202; the ``core.inbound.process`` job hands it
to the team's plugins through ``handle_inbound_webhook`` (``dispatch``)."""

from opsyard.inbound.process import dispatch

__all__ = ["dispatch"]
