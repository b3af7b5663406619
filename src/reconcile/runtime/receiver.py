"""`reconcile receive`: a local endpoint that checks each request's signature and token.

An ASGI app (served by uvicorn) that reports every request it gets to a callback,
with verdicts from the same signing code that signs deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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


def make_app(
    checks: Checks,
    report: Callable[[Arrival], None],
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The receiver: answers 200 when every configured check passes, else 401."""

    async def receive(request: Request) -> JSONResponse:
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
        report(arrival)
        if arrival.ok:
            return JSONResponse({"received": True})
        return JSONResponse({"received": True, "verified": False}, 401)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route("/", receive, methods=methods), Route("/{path:path}", receive, methods=methods)]
    return Starlette(routes=routes)
