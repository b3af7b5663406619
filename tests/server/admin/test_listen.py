"""The server as `reconcile serve` runs it: private files, and limits on connections,
header size and read time; a client that leaves mid-body is one log line (S11)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconcile.server.admin import listen
from tests.server.helpers import InProcess, World, build_world, webhook
from tests.server.live import LiveServer, announced, running

LIMITS = listen.Limits(max_connections=3, max_header_bytes=8 * 1024, read_timeout=0.5)
QUERY = b'{"query": "{ viewer { id } }"}'


@contextmanager
def _server(db_path: Path, limits: listen.Limits = LIMITS) -> Iterator[tuple[LiveServer, int]]:
    with running(db_path, limits=limits) as live:
        yield live, int(live.url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_database_files_are_private(live_world: World) -> None:
    previous = os.umask(0o022)
    try:
        webhook(live_world.admin)  # a write: the -wal and -shm files exist now
    finally:
        os.umask(previous)
    folder = live_world.db.path.parent
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == {
        "server.db": 0o600,
        "server.db-wal": 0o600,
        "server.db-shm": 0o600,
        "server.db.key": 0o600,
    }


def test_headers_above_the_limit_are_431(db_path: Path) -> None:
    with _server(db_path) as (live, port):
        small = httpx.post(f"{live.url}/graphql", content=QUERY, headers={"X-Pad": "a" * 4000})
        assert small.status_code == 401
        with _connect(port) as sock:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
            for _ in range(5 * 1024):  # up to 5 MiB of headers, until the server answers
                try:
                    sock.sendall(b"X-Pad: " + b"a" * 1017 + b"\r\n")
                except OSError:
                    break
            answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert answer.endswith(b"request headers larger than 8192 bytes")


def _keyed(live: LiveServer) -> bytes:
    """An Authorization header line with a member's key: the server reads the body of
    an authenticated request only (without a key it answers 401 at once)."""
    key = build_world(InProcess(live.app)).member.key
    return f"Authorization: Bearer {key}\r\n".encode()


def test_a_request_not_sent_in_time_is_closed(db_path: Path) -> None:
    with _server(db_path) as (live, port), _connect(port) as headers_only:
        headers_only.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        with _connect(port) as part_body:
            head = b"POST /graphql HTTP/1.1\r\nHost: x\r\n" + _keyed(live)
            part_body.sendall(head + b"Content-Length: 100\r\n\r\n{")
            late = _read_all(headers_only)
            cut = _read_all(part_body)
    assert late.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert late.endswith(b"request not received within 0.5 s")
    assert cut == b""


def _status_until(url: str, done: Callable[[int], bool]) -> httpx.Response:
    """POST until the answer's status satisfies `done` (60 s at most): the server counts a
    connection once it has accepted it, which a loaded machine may do late."""
    deadline = time.monotonic() + 60
    while True:
        response = httpx.post(f"{url}/graphql", content=QUERY)
        if done(response.status_code) or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_connections_above_the_limit_are_503(db_path: Path) -> None:
    patient = listen.Limits(max_connections=3, read_timeout=60)
    with _server(db_path, patient) as (live, port):
        idle = [_connect(port) for _ in range(patient.max_connections)]
        try:
            refused = _status_until(live.url, lambda status: status == 503)
        finally:
            for sock in idle:
                sock.close()
        after = _status_until(live.url, lambda status: status != 503)
    assert (refused.status_code, refused.text) == (503, "too many open connections")
    assert after.status_code == 401


def test_the_default_limit_holds_the_sdks_concurrent_uploads(db_path: Path) -> None:
    # The official SDK uploads an artifact's files 128 at a time, most on fresh
    # connections, beside its GraphQL ones: 200 open connections are not refused.
    held = listen.Limits(read_timeout=60)
    with _server(db_path, held) as (live, port):
        idle = [_connect(port) for _ in range(200)]
        try:
            for sock in idle:  # each is a request under way, counted once accepted
                sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
            # Accepted in order: this connection is counted after the 200 above.
            answer = httpx.post(f"{live.url}/graphql", content=QUERY)
        finally:
            for sock in idle:
                sock.close()
    assert answer.status_code == 401


@contextmanager
def _uvicorn_logs_into(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Also capture uvicorn's loggers: they do not propagate to the root. (Call once the
    server runs: uvicorn's logging setup replaces their handlers.)"""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def test_a_client_leaving_mid_body_is_one_log_line(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with _server(db_path) as (live, port), _uvicorn_logs_into(caplog):
        head = b"POST /graphql HTTP/1.1\r\nHost: x\r\n" + _keyed(live)
        with _connect(port) as sock:
            sock.sendall(head + b"Content-Length: 1000\r\n\r\n{")
            time.sleep(0.1)  # the app is reading the body when the client goes
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            "disconnected" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
        assert httpx.post(f"{live.url}/graphql", content=QUERY).status_code == 401
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    about = [line for line in lines if line[0].startswith(("uvicorn", "reconcile.server.app"))]
    assert about == [
        ("reconcile.server.app", "INFO", "client disconnected before sending the whole body")
    ]
    assert not [r for r in caplog.records if r.exc_info]


SERVE = "from reconcile.server.admin.commands import serve; serve()"


def test_reconcile_serve_applies_its_limit_options(tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "server.db"), "--port", "0"]
    limits = ["--max-header-bytes", "2048", "--read-timeout", "5", "--max-connections", "10"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, *args, *limits],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url, _ = announced(proc)
        for _ in range(1200):  # bounded: returns once listening
            assert proc.poll() is None, proc.communicate()
            try:
                healthy = httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)  # not listening yet
        else:
            raise AssertionError("reconcile serve did not start")
        assert healthy.status_code == 200
        fits = httpx.post(f"{url}/graphql", content=QUERY, headers={"X-Pad": "a" * 1500})
        too_big = httpx.post(f"{url}/graphql", content=QUERY, headers={"X-Pad": "a" * 2500})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert fits.status_code == 401
    assert (too_big.status_code, too_big.text) == (431, "request headers larger than 2048 bytes")


def test_the_serving_interpreter_switches_threads_every_millisecond() -> None:
    default = sys.getswitchinterval()
    try:
        listen.tune_interpreter()
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(default)
