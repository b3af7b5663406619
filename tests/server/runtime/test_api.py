"""The runtime's routes over a real socket: S9 (no work before authentication, whatever
body is declared) and ids out of SQLite's range."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.server.admin import listen
from tests.server.helpers import World, basic
from tests.server.live import LiveServer, running

ROUTES = [
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/deliveries"),
    ("POST", "/api/v1/deliveries/1/resend"),
    ("POST", "/graphql"),
]
DECLARED = 8 * 1024 * 1024  # the largest events body the server takes
BAD_KEYS = [None, "Bearer local-" + "x" * 40, "Basic !!!"]


@pytest.fixture
def live(db_path: Path) -> Iterator[LiveServer]:
    with running(db_path, limits=listen.Limits()) as server:
        yield server


def _connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1])), timeout=10)


def _head(method: str, path: str, authorization: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {DECLARED}"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP answer: its status line, and its body (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(
        int(v) for n, _, v in (h.partition(b": ") for h in lines) if n == b"content-length"
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the answer's body"
        body += chunk
    assert len(body) == length
    return lines[0], body


def _until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


@pytest.mark.parametrize("authorization", BAD_KEYS)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_s9_refused_before_the_body_is_read(
    live: LiveServer, method: str, path: str, authorization: str | None
) -> None:
    """8 MiB declared, 1 KiB sent: the 401 comes while the body is still owed."""
    with _connect(live) as sock:
        sock.sendall(_head(method, path, authorization) + b"{" * 1024)
        status, _ = _answer(sock)
    assert status == b"HTTP/1.1 401 Unauthorized"


def test_s9_the_rest_of_a_refused_body_is_not_read_past_a_bound(live: LiveServer) -> None:
    """The server drops at most `max_unread_body` bytes of a refused body, then closes:
    a client streaming on gets the connection closed, not its body read to the end."""
    bound = listen.Limits().max_unread_body
    head = _head("POST", "/api/v1/events", None)
    head = head.replace(str(DECLARED).encode(), str(8 * bound).encode())
    with _connect(live) as sock:
        sock.sendall(head + b"{" * 1024)
        assert _answer(sock)[0] == b"HTTP/1.1 401 Unauthorized"
        pushed = 0
        try:
            while pushed < 2 * bound:
                pushed += sock.send(b"{" * 65536)
        except OSError:
            pass  # closed already
        assert _until_closed(sock) == b""


def test_an_authenticated_body_is_read(live: LiveServer) -> None:
    """The control: with a valid key the same request is read (and refused as JSON)."""
    from tests.server.helpers import InProcess, build_world

    world: World = build_world(InProcess(live.app))
    body = b'{"events": [' + b" " * 1000 + b"]}"
    head = _head("POST", "/api/v1/events", basic(world.member.key)["Authorization"])
    head = head.replace(str(DECLARED).encode(), str(len(body)).encode())
    with _connect(live) as sock:
        sock.sendall(head + body)
        status, answer = _answer(sock)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert json.loads(answer)["error"]["message"] == "'events' must be a list of 1 to 1000 events"


@pytest.mark.parametrize("number", [2**63, 2**63 - 1, 10**30])
def test_a_resend_of_an_id_out_of_range_is_404(live: LiveServer, number: int) -> None:
    import httpx

    from tests.server.helpers import InProcess, build_world

    world = build_world(InProcess(live.app))
    answer = httpx.post(
        f"{live.url}/api/v1/deliveries/{number}/resend", headers=basic(world.admin.key)
    )
    assert (answer.status_code, answer.json()) == (
        404,
        {"error": {"message": f"delivery {number} not found", "code": "NOT_FOUND"}},
    )


def test_a_client_sending_its_whole_body_first_still_reads_its_401(live: LiveServer) -> None:
    import httpx

    body = b" " * (8 * 1024 * 1024)  # the largest body the events route takes
    for _ in range(3):
        answer = httpx.post(f"{live.url}/api/v1/events", content=body)
        assert answer.status_code == 401
