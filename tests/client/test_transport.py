"""The retry policy's arithmetic and the authorization header."""

from __future__ import annotations

import asyncio
import base64
import ssl

import httpx
import pytest

from reconcile.client.transport import RetryPolicy, Transport, Unreachable, basic_auth


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
    for attempt in range(10):
        delays = {policy.delay(attempt, None) for _ in range(50)}
        assert all(0 <= d <= min(4.0, 0.5 * 2**attempt) for d in delays)
        assert len(delays) > 1


def test_retry_after_is_honoured_within_its_cap() -> None:
    policy = RetryPolicy(retry_after_cap=10.0)
    assert policy.delay(0, 3.0) == 3.0
    assert policy.delay(0, 3600.0) == 10.0


def test_scale_zero_removes_every_wait() -> None:
    policy = RetryPolicy(scale=0.0)
    assert policy.delay(5, None) == 0.0
    assert policy.delay(5, 30.0) == 0.0


def test_basic_auth_is_wandb_style() -> None:
    header = basic_auth("local-" + "a" * 40)
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == "api:local-" + "a" * 40


def _transport(error: Exception) -> tuple[Transport, list[int]]:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise error

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://x")
    return Transport(client, RetryPolicy(attempts=4, scale=0.0)), calls


def test_tls_failures_are_never_retried() -> None:
    error = httpx.ConnectError("certificate verify failed")
    error.__cause__ = ssl.SSLError("CERTIFICATE_VERIFY_FAILED")
    transport, calls = _transport(error)
    with pytest.raises(Unreachable, match="certificate verify failed"):
        asyncio.run(transport.execute("query { viewer { id } }"))
    assert len(calls) == 1


def test_connection_failures_are_retried_a_bounded_number_of_times() -> None:
    transport, calls = _transport(httpx.ConnectError("connection refused"))
    with pytest.raises(Unreachable):
        asyncio.run(transport.execute("query { viewer { id } }"))
    assert len(calls) == 4
