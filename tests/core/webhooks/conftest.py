"""Fixtures for webhook tests: a local receiver, a live portal server, quick timeouts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from opsyard.config import Settings
from tests.core.webhooks.helpers import received  # noqa: F401  (a fixture)
from tests.core.webhooks.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short enough that the slow-receiver test takes a second, long enough for loopback.
    return settings.model_copy(update={"webhook_timeout_seconds": 1.0})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The portal served by uvicorn on a loopback port, for tests that want real HTTP."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)
    sock.close()
