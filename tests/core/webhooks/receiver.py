"""A webhook receiver on 127.0.0.1 for tests: verifies Standard Webhooks signatures with the
reference library and can be told to answer 500, 410, answer slowly, or be down."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from standardwebhooks import Webhook

Mode = Literal["ok", "error", "gone", "slow", "down"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # Indexes into Receiver.secrets of each secret whose signature the library accepted.
    verified_with: list[int] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 drops connections when several workers send at once.
    request_queue_size = 128
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out on a slow answer closes first; that is expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = []
        for index, secret in enumerate(receiver.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except Exception:
                continue
            verified.append(index)
        with receiver.lock:
            receiver.requests.append(Received(headers, body, verified))
        mode = receiver.mode
        if mode == "slow":
            time.sleep(receiver.slow_seconds)
        status, text = {"error": (500, b"boom"), "gone": (410, b"gone")}.get(mode, (204, b""))
        self.send_response(status)
        self.send_header("content-length", str(len(text)))
        self.end_headers()
        if text:
            self.wfile.write(text)


class Receiver:
    """Listens on a random loopback port, which it keeps when taken down and brought back."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.slow_seconds = 3.0
        self.secrets: list[str] = []
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.port = 0
        self._server: _Server | None = None
        self._start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def set_mode(self, mode: Mode) -> None:
        if mode == "down":
            self._stop()
        elif self._server is None:
            self._start()
        self.mode = mode

    def verified(self) -> list[Received]:
        return [r for r in self.requests if r.verified_with]

    def close(self) -> None:
        self._stop()

    def _start(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        # serve_forever looks for shutdown() every poll_interval (0.5 s by default), and
        # every test closes its receiver: stopping should not cost half a second.
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            # Nothing listens on the port now: a connection is refused, as with a dead host.
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", self.port)) != 0
