"""A real uvicorn server on 127.0.0.1 in a background thread, for HTTP clients."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette

from reconcile.server.admin import listen
from reconcile.server.app import create_app

HttpParser = Literal["auto", "h11", "httptools"]


@dataclass(frozen=True)
class LiveServer:
    app: Starlette
    url: str


def free_port() -> int:
    """A port free now, for a test that must name it before anything listens there. Another
    process may take it before it is used: a server a test starts listens on port 0 and
    says where (`announced`) instead."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens (a connection is refused) and that nothing
    else can take while the block runs: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


@contextmanager
def running(
    db_path: Path,
    timeout: float = 60.0,  # a bound against a hang: returns once started
    http: HttpParser = "auto",
    limits: listen.Limits | None = None,
    disabled: frozenset[str] = frozenset(),
    *,
    allow_delivery_to: tuple[str, ...] | None = None,
) -> Iterator[LiveServer]:
    """Serve a fresh app over `db_path` until the block ends; fail if it does not start.

    With `limits`, the server runs as `reconcile serve` does (its protocol and limits);
    `disabled`: features the server answers as not enabled; with `allow_delivery_to`,
    the delivery worker runs (delivering to those hosts).
    """
    app = create_app(db_path, disabled=disabled, allow_delivery_to=allow_delivery_to)
    # Bound here and handed to uvicorn: a port found free and bound later could be taken
    # in between by another test run in parallel (pytest -n).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if limits is None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=http)
    else:
        config = listen.config(app, limits, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


class HttpClient:
    """The `InProcess` interface over real HTTP to a live server (for `build_world`)."""

    def __init__(self, live: LiveServer) -> None:
        self.app = live.app
        self.url = live.url

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def announced(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, list[str]]:
    """The address `reconcile serve --port 0` says it serves on (its `Serving on ADDRESS/graphql`
    line) and the lines it printed up to it; read on a thread, `timeout` bounds a hang."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving on "):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, proc.poll()
    assert lines[-1].startswith("Serving on "), (lines, proc.poll())
    return lines[-1].split()[2].removesuffix("/graphql"), lines
