"""`reconcile receive`: a local endpoint that checks each request's signature and token.

An ASGI app (served by uvicorn) that reports every request it gets to a callback,
with verdicts from the same signing code that signs deliveries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconcile.runtime import signing

MAX_BODY = 1024 * 1024
VALID, INVALID, MISSING, UNCHECKED = "valid", "INVALID", "missing", "not checked"


@dataclass(frozen=True)
class Arrival:
    """One request the receiver got, and what its checks said."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    signature: str
    standard: str
    token: str
    answered: int = 200
    rehearsed: str = ""  # which rehearsed failure this answer is ("1 of 2"), if one

    @property
    def ok(self) -> bool:
        return all(v in (VALID, UNCHECKED) for v in (self.signature, self.standard, self.token))


@dataclass(frozen=True)
class Checks:
    """The values to check against; None leaves that check out."""

    secret: str | None = None
    token: str | None = None


def verdicts(
    checks: Checks, headers: dict[str, str], body: bytes, now: float
) -> tuple[str, str, str]:
    """The X-Wandb-Signature, Standard Webhooks and token verdicts for one request."""
    signature = standard = token = UNCHECKED
    if checks.secret is not None:
        given = headers.get("x-wandb-signature")
        signature = (
            MISSING
            if given is None
            else (VALID if signing.verify_wandb(checks.secret, body, given) else INVALID)
        )
        if "webhook-signature" not in headers:
            standard = MISSING
        else:
            reason = signing.verify_standard(checks.secret, body, headers, now)
            standard = VALID if reason is None else f"{INVALID} ({reason})"
    if checks.token is not None:
        given = headers.get("authorization")
        token = (
            MISSING
            if given is None
            else (VALID if signing.verify_token(checks.token, given) else INVALID)
        )
    return signature, standard, token


@dataclass(frozen=True)
class Rehearsal:
    """Failures to answer on purpose, to watch retries: `status` to the first
    `fail_first` requests (every request when None), each answer after `delay` seconds."""

    status: int | None = None
    fail_first: int | None = None
    delay: float = 0.0

    def failure(self, number: int) -> tuple[int, str] | None:
        """The status to answer request `number` (1, 2, ...) with, and which failure
        it is; None: answer as usual."""
        if self.status is None and self.fail_first is None:
            return None
        status = 500 if self.status is None else self.status
        if self.fail_first is None:
            return status, str(number)
        if number > self.fail_first:
            return None
        return status, f"{number} of {self.fail_first}"


def make_app(
    checks: Checks,
    report: Callable[[Arrival], None],
    clock: Callable[[], float] = time.time,
    rehearsal: Rehearsal = Rehearsal(),
) -> Starlette:
    """The receiver: answers 200 when every configured check passes, else 401, unless
    `rehearsal` says to fail this request."""
    count = 0

    async def receive(request: Request) -> JSONResponse:
        nonlocal count
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        signature, standard, token = verdicts(checks, headers, bytes(body), clock())
        arrival = Arrival(
            request.method,
            request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            tuple(request.headers.items()),
            bytes(body),
            signature,
            standard,
            token,
        )
        count += 1
        failure = rehearsal.failure(count)
        if failure is not None:
            arrival = replace(arrival, answered=failure[0], rehearsed=failure[1])
        elif not arrival.ok:
            arrival = replace(arrival, answered=401)
        report(arrival)
        if rehearsal.delay:
            await asyncio.sleep(rehearsal.delay)
        if failure is not None:
            return JSONResponse({"received": True, "rehearsed": "failure"}, failure[0])
        if arrival.ok:
            return JSONResponse({"received": True})
        return JSONResponse({"received": True, "verified": False}, 401)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route("/", receive, methods=methods), Route("/{path:path}", receive, methods=methods)]
    return Starlette(routes=routes)
