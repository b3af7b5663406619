"""One GraphQL request at a time, with the retry policy that is safe for it.

Retried: connection errors, 429, 502, 503 and 504 (honouring `Retry-After`, capped),
with exponential backoff and full jitter, a bounded number of times. Never retried:
other statuses (400, 401, 403, 404, 409, 422 ...) and TLS failures. A request that
mutates is retried only when the caller says so (`idempotent=True`): creates are
re-read by name by the caller instead. `send` is that policy for any request, and
the GitHub client uses it too.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reconcile.core.errors import ServerError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait; `scale` shrinks every wait (tests use 0.0)."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    retry_after_cap: float = 60.0
    scale: float = 1.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap) * self.scale
        return random.uniform(0, min(self.cap, self.base * 2**attempt)) * self.scale


class GraphQLError(ServerError):
    """Raised when the server answers with GraphQL `errors` or an HTTP failure status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(ServerError):
    """Raised when the server cannot be reached after every allowed attempt."""


def basic_auth(api_key: str) -> str:
    token = base64.b64encode(f"api:{api_key}".encode()).decode()
    return f"Basic {token}"


class Transport:
    """POSTs GraphQL documents to `{base_url}/graphql` through an httpx.AsyncClient."""

    def __init__(self, client: httpx.AsyncClient, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.requests = 0
        self.waits: list[float] = []  # every pause before a retry, in seconds

    async def execute(
        self, document: str, variables: dict[str, Any] | None = None, *, idempotent: bool = True
    ) -> dict[str, Any]:
        """The `data` of the answer; raise GraphQLError or Unreachable."""
        body = {"query": document, "variables": variables or {}}
        request = self.client.build_request("POST", "/graphql", json=body)
        where = str(self.client.base_url).rstrip("/")
        response = await send(
            self.client,
            request,
            self.policy,
            idempotent=idempotent,
            on_attempt=self._count,
            on_wait=self.waits.append,
            server=f"the server at {where}",
        )
        return _data(response)

    def _count(self) -> None:
        self.requests += 1


def retry_status(response: httpx.Response) -> bool:
    """The statuses worth another attempt, for every server we talk to."""
    return response.status_code in RETRY_STATUSES


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool = True,
    retryable: Callable[[httpx.Response], bool] = retry_status,
    refused: Callable[[httpx.Response], bool] | None = None,
    on_attempt: Callable[[], None] | None = None,
    on_wait: Callable[[float], None] | None = None,
    server: str = "the server",
) -> httpx.Response:
    """Send `request` under `policy`; the last answer, or Unreachable.

    A request that is not idempotent is sent again only after an answer that `refused`
    says proves it was not carried out (a rate limit, for GitHub). A retryable answer on
    the last attempt is returned as it is, for the caller to report.
    """
    for attempt in range(policy.attempts):
        last = attempt == policy.attempts - 1
        try:
            if on_attempt is not None:
                on_attempt()
            response = await client.send(request)
        except httpx.TransportError as error:
            if _is_tls(error) or last or not idempotent:
                raise Unreachable(f"cannot reach {server}: {_describe(error)}") from None
            await _pause(policy.delay(attempt, None), on_wait)
            continue
        again = retryable(response) if idempotent else bool(refused and refused(response))
        if again and not last:
            log.info("%s answered %s; retrying", server, response.status_code)
            await _pause(policy.delay(attempt, retry_after(response)), on_wait)
            continue
        return response
    raise Unreachable("no attempt was made")  # pragma: no cover - attempts >= 1


async def _pause(delay: float, on_wait: Callable[[float], None] | None) -> None:
    if on_wait is not None:
        on_wait(delay)  # tests assert the wait that was asked for, not only the count
    await asyncio.sleep(delay)


def _data(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if errors:
        messages = "; ".join(str(e.get("message", e)) for e in errors)
        raise GraphQLError(messages, response.status_code)
    if response.status_code >= 400 or not isinstance(payload, dict):
        raise GraphQLError(f"HTTP {response.status_code} from the server", response.status_code)
    data = payload.get("data")
    return data if isinstance(data, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _is_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(error: httpx.TransportError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
