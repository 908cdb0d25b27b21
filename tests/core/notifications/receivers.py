"""Local stand-ins for the providers, on 127.0.0.1, each following its documented format.

- PagerDuty Events API v2: POST /v2/enqueue; validates the event as PagerDuty does and
  answers 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` or
  400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
  keeps incidents by dedup key so tests can see what would have paged someone.
- Slack incoming webhooks: POST /services/...; 200 ``ok``, 400 ``invalid_payload``,
  404 ``no_service``, 410 ``channel_is_archived``, 429 ``rate_limited``.
- A generic receiver that verifies Standard Webhooks signatures with the reference library.
- An SMTP server (aiosmtpd) that keeps what it was sent.

Each can be told to answer differently for the next requests, or be stopped and started
again on the same port, to play a provider that is down and then back.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A small HTTP server in a thread; subclasses decide the answer."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripted: deque[Reply] = deque()
        self.lock = threading.Lock()
        self.port = _free_port()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with receiver.lock:
                    receiver.requests.append(request)
                    reply = receiver.scripted.popleft() if receiver.scripted else None
                    if reply is None:
                        reply = receiver.answer(request)
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        # serve_forever looks for shutdown() every poll_interval (0.5 s by default); tests
        # stop receivers to play a provider that is down, and should not wait for it.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Go away: connections are refused until `start` is called again."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.scripted.clear()
        if self.server is None:
            self.start()

    def then(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order, then normally again."""
        with self.lock:
            self.scripted.extend(replies)

    def answer(self, request: Received) -> Reply:
        raise NotImplementedError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers=headers or {})


class PagerDutyReceiver(Receiver):
    """PagerDuty's Events API v2, with incidents kept by (routing key, dedup key)."""

    def __init__(self) -> None:
        super().__init__()
        # (routing_key, dedup_key) -> status; `opened` counts triggers that opened one.
        self.incidents: dict[tuple[str, str], str] = {}
        self.opened = 0
        self.generated = 0

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.incidents.clear()
            self.opened = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path == "/v2/enqueue"]

    @staticmethod
    def throttled() -> Reply:
        return _json(
            429,
            {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. "
                "Please retry later.",
            },
        )

    @staticmethod
    def server_error() -> Reply:
        return Reply(500, b"Internal Server Error", content_type="text/plain")

    def validate(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object is not a JSON object"]
        problems: list[str] = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = event.get("event_action")
        if action not in ACTIONS:
            problems.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
            problems.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            problems.append("'dedup_key' is required for acknowledge and resolve events")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                return [*problems, "'payload' is missing or not an object"]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                problems.append("'payload.summary' is missing or longer than 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload.get("source"):
                problems.append("'payload.source' is missing")
            if payload.get("severity") not in SEVERITIES:
                problems.append("'payload.severity' is invalid (critical, error, warning, info)")
            details = payload.get("custom_details")
            if details is not None and not isinstance(details, dict):
                problems.append("'payload.custom_details' must be an object")
            if "timestamp" in payload:
                try:
                    datetime.fromisoformat(str(payload["timestamp"]))
                except ValueError:
                    problems.append("'payload.timestamp' is not ISO 8601")
        return problems

    def answer(self, request: Received) -> Reply:
        if request.path != "/v2/enqueue":
            return _json(404, {"status": "not found", "message": "Not Found"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _json(400, {"status": "invalid event", "message": "Content-Type must be JSON"})
        try:
            event = request.json()
        except ValueError:
            return _json(400, {"status": "invalid event", "message": "Malformed JSON"})
        problems = self.validate(event)
        if problems:
            return _json(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                },
            )
        dedup = event.get("dedup_key")
        if dedup is None:
            self.generated += 1
            dedup = f"generated-{self.generated}"
        incident = (event["routing_key"], dedup)
        action = event["event_action"]
        current = self.incidents.get(incident)
        if action == "trigger" and current not in ("triggered", "acknowledged"):
            self.incidents[incident] = "triggered"
            self.opened += 1
        elif action == "acknowledge" and current == "triggered":
            self.incidents[incident] = "acknowledged"
        elif action == "resolve" and current in ("triggered", "acknowledged"):
            self.incidents[incident] = "resolved"
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": dedup})


class SlackReceiver(Receiver):
    """Slack incoming webhooks at /services/T.../B.../..."""

    HOOK_PATH = "/services/T0001/B0001/abcdefghijklmnopqrstuvwx"

    @property
    def hook_url(self) -> str:
        return self.url + self.HOOK_PATH

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests]

    @staticmethod
    def text(status: int, body: str, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, body.encode(), content_type="text/html", headers=headers or {})

    def answer(self, request: Received) -> Reply:
        if not request.path.startswith("/services/"):
            return self.text(404, "no_service")
        try:
            body = request.json()
        except ValueError:
            return self.text(400, "invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return self.text(400, "no_text")
        blocks = body.get("blocks", [])
        if not isinstance(blocks, list) or not all(
            isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks
        ):
            return self.text(400, "invalid_blocks")
        return self.text(200, "ok")


class SignedReceiver(Receiver):
    """A generic endpoint that accepts only correctly signed Standard Webhooks."""

    def __init__(self) -> None:
        super().__init__()
        self.secret: str | None = None
        self.verified: list[Any] = []

    def reset(self) -> None:
        super().reset()
        self.secret = None
        self.verified.clear()

    def answer(self, request: Received) -> Reply:
        if self.secret is None:
            return Reply(500, b"no secret configured", content_type="text/plain")
        try:
            payload = Webhook(self.secret).verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            return Reply(401, str(exc).encode(), content_type="text/plain")
        self.verified.append(payload)
        return Reply(204, b"")


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


class MailServer:
    """aiosmtpd on 127.0.0.1, with plain-text AUTH allowed for the test credentials."""

    USERNAME = "mailer"
    PASSWORD = "mail-password"

    def __init__(self) -> None:
        self.handler = MailHandler()
        self.port = _free_port()
        self.logins: list[str] = []
        self.controller: Controller | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.USERNAME.encode()
            and data.password == self.PASSWORD.encode()
        )
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: let aiosmtpd answer 535 itself rather than leave the client waiting.
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def reset(self) -> None:
        self.handler.messages.clear()
        self.handler.rcpt_reply = None
        self.handler.data_reply = None
        self.logins.clear()
        if self.controller is None:
            self.start()

    @property
    def messages(self) -> list[Message]:
        return [m for _, m in self.handler.messages]

    @property
    def envelopes(self) -> list[Envelope]:
        return [e for e, _ in self.handler.messages]
