"""One GraphQL request at a time, with the retry policy that is safe for it.

Retried: connection errors, 429, 502, 503 and 504 (honouring `Retry-After`, capped),
with exponential backoff and full jitter, a bounded number of times. Never retried:
other statuses (400, 401, 403, 404, 409, 422 ...) and TLS failures. A request that
mutates is retried only when the caller says so (`idempotent=True`): creates are
re-read by name by the caller instead.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from reconcile.errors import ServerError

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
        attempts = self.policy.attempts if idempotent else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                self.requests += 1
                response = await self.client.post("/graphql", json=body)
            except httpx.TransportError as error:
                if _is_tls(error) or last:
                    raise Unreachable(f"cannot reach the server: {_describe(error)}") from None
                await self._pause(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                log.info("server answered %s; retrying", response.status_code)
                await self._pause(attempt, _retry_after(response))
                continue
            return _data(response)
        raise Unreachable("no attempt was made")  # pragma: no cover - attempts >= 1

    async def _pause(self, attempt: int, retry_after: float | None) -> None:
        delay = self.policy.delay(attempt, retry_after)
        self.waits.append(delay)
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


def _retry_after(response: httpx.Response) -> float | None:
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
