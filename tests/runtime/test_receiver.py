"""The local receiver's verdicts, through its ASGI app and a real httpx client."""

from __future__ import annotations

import asyncio

import httpx

from reconcile.runtime import signing
from reconcile.runtime.receiver import MAX_BODY, Arrival, Checks, make_app

BODY = b'{"key1": "value1"}'
NOW = 1700000000.0


def post(
    checks: Checks, headers: list[tuple[str, str]], body: bytes = BODY
) -> tuple[int, list[Arrival]]:
    seen: list[Arrival] = []
    app = make_app(checks, seen.append, clock=lambda: NOW)

    async def go() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            return (await client.post("/hooks/x?a=1", content=body, headers=headers)).status_code

    return asyncio.run(go()), seen


def test_a_correctly_signed_request_verifies() -> None:
    headers = signing.headers(signing.Credentials("tok", "key"), BODY, "msg_1", int(NOW))
    status, (arrival,) = post(Checks(secret="key", token="tok"), headers)
    assert status == 200
    assert (arrival.method, arrival.path, arrival.body) == ("POST", "/hooks/x?a=1", BODY)
    assert (arrival.signature, arrival.standard, arrival.token) == ("valid", "valid", "valid")


def test_wrong_or_missing_values_are_named_and_answered_401() -> None:
    headers = signing.headers(signing.Credentials("tok", "other"), BODY, "msg_1", int(NOW) - 400)
    status, (arrival,) = post(Checks(secret="key", token="tok2"), headers)
    assert status == 401
    assert (arrival.signature, arrival.token) == ("INVALID", "INVALID")
    assert arrival.standard == "INVALID (webhook-timestamp is more than 300 s away from now)"
    status, (bare,) = post(Checks(secret="key", token="tok"), [])
    assert (status, bare.signature, bare.standard, bare.token) == (
        401,
        "missing",
        "missing",
        "missing",
    )


def test_without_checks_everything_is_accepted_unchecked() -> None:
    status, (arrival,) = post(Checks(), [])
    assert (status, arrival.signature, arrival.token) == (200, "not checked", "not checked")


def test_a_body_beyond_the_limit_is_refused() -> None:
    status, seen = post(Checks(), [], body=b"x" * (MAX_BODY + 1))
    assert (status, seen) == (413, [])
