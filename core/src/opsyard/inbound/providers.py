"""What each sender does: how its requests are signed, and where the delivery id, event name
and payload are. Every check runs on the raw body, before anything parses it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

from standardwebhooks import Webhook

from opsyard.errors import OpsyardError
from opsyard.inbound.errors import PAYLOAD_INVALID, SIGNATURE_INVALID
from opsyard.webhooks import signing

MAX_DELIVERY_ID = 200

# Headers are passed with lowercase names.
Headers = Mapping[str, str]


@dataclass(frozen=True)
class Parsed:
    delivery_id: str
    event: str
    payload: dict[str, Any]


class Provider(Protocol):
    def new_secret(self) -> str:
        """A secret for a new integration, in the form the sender expects."""
        ...

    def verify(self, *, secrets_in_use: Sequence[str], body: bytes, headers: Headers) -> None:
        """Raise ``webhooks.signature_invalid`` unless one of the secrets signed `body`."""
        ...

    def parse(self, *, body: bytes, headers: Headers) -> Parsed:
        """The delivery id, event and payload of a verified request."""
        ...


def _refuse() -> OpsyardError:
    # One message for every failure, so a prober learns nothing about which check failed.
    return OpsyardError(SIGNATURE_INVALID, "The webhook signature is missing or does not match.")


def _json_object(text: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise OpsyardError(PAYLOAD_INVALID, "The body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise OpsyardError(PAYLOAD_INVALID, "The body must be a JSON object.")
    return value


def _delivery_id(value: str | None, header: str) -> str:
    if not value or len(value) > MAX_DELIVERY_ID:
        raise OpsyardError(
            PAYLOAD_INVALID, f"The {header} header is missing or longer than {MAX_DELIVERY_ID}."
        )
    return value


class GitHub:
    """GitHub: HMAC-SHA256 of the body in ``X-Hub-Signature-256: sha256=<hex>``."""

    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def verify(self, *, secrets_in_use: Sequence[str], body: bytes, headers: Headers) -> None:
        scheme, _, given = headers.get("x-hub-signature-256", "").partition("=")
        if scheme != "sha256" or not given:
            raise _refuse()
        for secret in secrets_in_use:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
                return
        raise _refuse()

    def parse(self, *, body: bytes, headers: Headers) -> Parsed:
        delivery_id = _delivery_id(headers.get("x-github-delivery"), "X-GitHub-Delivery")
        text: bytes | str = body
        # A hook configured with "application/x-www-form-urlencoded" sends payload=<json>.
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode(errors="replace"))
            text = form.get("payload", [""])[0]
        return Parsed(delivery_id, headers.get("x-github-event", ""), _json_object(text))


class Alertmanager:
    """Prometheus Alertmanager: webhook payload version 4, ``Authorization: Bearer <secret>``
    (``http_config.authorization.credentials`` in the receiver). Alertmanager sends no
    delivery id, so a hash of what makes a notification distinct stands in for one."""

    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def verify(self, *, secrets_in_use: Sequence[str], body: bytes, headers: Headers) -> None:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        token = given.strip().encode()
        if scheme.lower() != "bearer" or not token:
            raise _refuse()
        for secret in secrets_in_use:
            if hmac.compare_digest(token, secret.encode()):
                return
        raise _refuse()

    def parse(self, *, body: bytes, headers: Headers) -> Parsed:
        payload = _json_object(body)
        if payload.get("version") != "4":
            raise OpsyardError(
                PAYLOAD_INVALID,
                f"Alertmanager webhook payload version {payload.get('version')!r} is not "
                'supported; version "4" is.',
            )
        identity = {k: payload.get(k) for k in ("groupKey", "status", "alerts")}
        digest = hashlib.sha256(
            json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        return Parsed(digest, str(payload.get("status", "")), payload)


class StandardWebhooks:
    """Any Standard Webhooks sender: verified by the reference library, which also refuses
    timestamps more than five minutes off."""

    def new_secret(self) -> str:
        return signing.new_secret()

    def verify(self, *, secrets_in_use: Sequence[str], body: bytes, headers: Headers) -> None:
        for secret in secrets_in_use:
            try:
                Webhook(secret).verify(body, dict(headers), json_parse=False)
            # The library raises several types on malformed input (bad base64, a signature
            # without a comma, a body that is not UTF-8): each means "not verified".
            except Exception:  # noqa: S112
                continue
            return
        raise _refuse()

    def parse(self, *, body: bytes, headers: Headers) -> Parsed:
        delivery_id = _delivery_id(headers.get("webhook-id"), "webhook-id")
        payload = _json_object(body)
        event = payload.get("type")
        return Parsed(delivery_id, event if isinstance(event, str) else "", payload)


PROVIDERS: dict[str, Provider] = {
    "github": GitHub(),
    "alertmanager": Alertmanager(),
    "standard": StandardWebhooks(),
}
