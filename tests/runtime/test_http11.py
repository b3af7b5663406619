"""The HTTP/1.1 exchange under the sender, against loopback fault endpoints: keep-alive
per origin, a stale kept-alive connection tried once more, the answer framings
(content-length, chunked, until close), and headers that are not valid HTTP."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import pytest

from reconcile.runtime import http11
from reconcile.runtime.sender import Limits, Outcome, Sender
from tests.runtime.faults import FaultServer
from tests.runtime.test_sender import BODY, LOOPBACK, send, send_all

JSON = [("Content-Type", "application/json")]


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def test_one_connection_carries_attempts_one_after_another(faults: FaultServer) -> None:
    outcomes = send_all([faults.url("/ok"), faults.url("/500"), faults.url("/ok")])
    assert [o.status for o in outcomes] == [200, 500, 200]
    assert (faults.connections, faults.paths()) == (1, ["/ok", "/500", "/ok"])


def test_attempts_at_once_each_have_a_connection_kept_for_the_next(faults: FaultServer) -> None:
    async def go() -> list[Outcome]:
        async with Sender(LOOPBACK, Limits(deadline=30)) as sender:
            first = await asyncio.gather(
                *(sender.send(faults.url("/ok"), BODY, JSON) for _ in range(3))
            )
            again = await asyncio.gather(
                *(sender.send(faults.url("/ok"), BODY, JSON) for _ in range(3))
            )
            return [*first, *again]

    outcomes = asyncio.run(go())
    assert [o.status for o in outcomes] == [200] * 6
    assert (faults.connections, len(faults.requests)) == (3, 6)


@pytest.mark.parametrize("path", ["/drop-second", "/reset-second"])
def test_a_kept_connection_closed_by_the_server_is_tried_once_more_on_a_new_one(
    faults: FaultServer, path: str
) -> None:
    first, second = send_all([faults.url(path), faults.url(path)])
    assert (first.status, second.status, second.error) == (200, 200, None)
    # The second request reached the closing connection (no answer), then a new one.
    assert (faults.connections, faults.paths()) == (2, [path, path, path])
    assert [r.body for r in faults.requests] == [BODY] * 3


@pytest.mark.parametrize(("path", "error"), [("/drop", "protocol"), ("/reset", "reset")])
def test_a_new_connection_that_closes_without_an_answer_is_not_tried_again(
    faults: FaultServer, path: str, error: str
) -> None:
    outcome = send(faults.url(path))
    assert (outcome.status, outcome.error, outcome.retryable) == (None, error, True)
    assert (faults.connections, faults.paths()) == (1, [path])


def test_a_connection_close_answer_is_not_kept(faults: FaultServer) -> None:
    first, second = send_all([faults.url("/close"), faults.url("/ok")])
    assert (first.status, first.excerpt, second.status) == (200, "bye", 200)
    assert faults.connections == 2


def test_a_chunked_answer_is_read_whole_and_its_connection_kept(faults: FaultServer) -> None:
    first, second = send_all([faults.url("/chunked"), faults.url("/ok")])
    assert (first.status, first.excerpt, first.received) == (200, "hello world", 11)
    assert ("transfer-encoding", "chunked") in first.headers
    assert (second.status, faults.connections) == (200, 1)


def test_an_answer_that_ends_with_its_connection_is_read_whole(faults: FaultServer) -> None:
    first, second = send_all([faults.url("/until-close"), faults.url("/ok")])
    assert (first.status, first.excerpt, first.error) == (200, "all of it", None)
    assert (second.status, faults.connections) == (200, 2)


def test_a_header_that_is_not_valid_http_fails_the_attempt_without_showing_it(
    faults: FaultServer,
) -> None:
    async def go() -> Outcome:
        async with Sender(LOOPBACK, Limits(deadline=30)) as sender:
            return await sender.send(faults.url("/ok"), BODY, [("Authorization", "Bearer a\nb")])

    outcome = asyncio.run(go())
    assert (outcome.status, outcome.error, outcome.retryable) == (None, "protocol", True)
    assert outcome.detail == "the request's headers are not valid HTTP"
    assert faults.requests == []


@pytest.mark.parametrize(
    "header",
    [
        ("Authorization", "Bearer s\u00e9cret"),  # not ASCII
        ("Authorization", "Bearer a\rb"),
        ("Authorization", "Bearer a\x00b"),
        ("Authorization", " Bearer a"),  # leading whitespace
        ("Bad Name", "value"),
        ("Bad:Name", "value"),
        ("", "value"),
    ],
)
def test_each_kind_of_invalid_header_fails_the_attempt_without_showing_it(
    faults: FaultServer, header: tuple[str, str]
) -> None:
    async def go() -> Outcome:
        async with Sender(LOOPBACK, Limits(deadline=30)) as sender:
            return await sender.send(faults.url("/ok"), BODY, [header])

    outcome = asyncio.run(go())
    assert (outcome.status, outcome.error) == (None, "protocol")
    assert outcome.detail == "the request's headers are not valid HTTP"
    assert faults.requests == []


def test_valid_headers_with_inner_spaces_and_tabs_are_sent_as_given(faults: FaultServer) -> None:
    async def go() -> Outcome:
        async with Sender(LOOPBACK, Limits(deadline=30)) as sender:
            headers = [("X-Note", "a b\tc"), ("X-Empty", ""), ("X-Token", "!#$%&'*+.^_`|~")]
            return await sender.send(faults.url("/ok"), BODY, headers)

    outcome = asyncio.run(go())
    assert outcome.status == 200
    (got,) = faults.requests
    assert (got.headers["x-note"], got.headers["x-empty"]) == ("a b\tc", "")
    assert got.headers["x-token"] == "!#$%&'*+.^_`|~"


def test_credentials_in_the_url_are_sent_as_basic_auth(faults: FaultServer) -> None:
    outcome = send(f"http://user:pa%20ss@127.0.0.1:{faults.port}/ok")
    assert outcome.status == 200
    (got,) = faults.requests
    assert got.headers["authorization"] == "Basic " + base64.b64encode(b"user:pa ss").decode()


def test_connections_idle_past_the_expiry_are_closed_by_the_next_exchange(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http11, "IDLE_EXPIRY", 0.05)

    async def go() -> tuple[list[str], list[str], int]:
        async with Sender(LOOPBACK, Limits(deadline=30)) as sender:
            with FaultServer() as other:
                assert (await sender.send(faults.url("/ok"), BODY, JSON)).status == 200
                kept = [o.ip + f":{o.port}" for o in sender.pool.idle]
                began = time.monotonic()
                while time.monotonic() - began <= 0.05:  # until past the expiry
                    await asyncio.sleep(0.01)
                assert (await sender.send(other.url("/ok"), BODY, JSON)).status == 200
                after = [o.ip + f":{o.port}" for o in sender.pool.idle]
                return kept, after, other.port

    kept, after, other = asyncio.run(go())
    assert (kept, after) == ([f"127.0.0.1:{faults.port}"], [f"127.0.0.1:{other}"])
