"""The runtime API of a server over HTTP (`/api/v1/events`, `/api/v1/deliveries`), and
what `emit` waits for: the deliveries of the events it sent, until none is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from reconcile.core.errors import ServerError

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
POLL = 0.1  # seconds between looks at the deliveries while waiting


class Runtime(Protocol):
    """A server's runtime API: over HTTP, or the embedded database in this process."""

    async def send_events(self, raw: bytes) -> tuple[int, dict[str, Any]]: ...
    async def deliveries(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...
    async def resend(self, delivery_id: int) -> None: ...
    def delivering(self) -> contextlib.AbstractAsyncContextManager[None]: ...
    def close(self) -> None: ...


class RemoteRuntime:
    """The runtime API of the server at `url`, called with the `authorization` header;
    its own worker delivers."""

    def __init__(self, url: str, authorization: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": authorization}, timeout=TIMEOUT
        )

    def close(self) -> None:
        pass  # the client is closed by `aclose`, on the loop that used it

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        try:
            answer = await self.client.request(method, path, **kw)
        except httpx.HTTPError as error:
            raise ServerError(f"cannot reach {self.url}: {error}") from None
        try:
            return answer.status_code, answer.json()
        except ValueError:
            raise ServerError(
                f"{self.url}{path} answered {answer.status_code} without JSON"
            ) from None

    async def send_events(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        status, body = await self._call("POST", "/api/v1/events", content=raw, headers=headers)
        return status, body if isinstance(body, dict) else {}

    async def deliveries(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return await through_pages(self._page, params)

    async def _page(self, params: Mapping[str, str]) -> Page:
        status, body = await self._call("GET", "/api/v1/deliveries", params=dict(params))
        if status != 200 or not isinstance(body, dict):
            raise ServerError(error_message(status, body))
        cursor = body.get("next")
        return list(body.get("deliveries", [])), cursor if isinstance(cursor, str) else None

    async def resend(self, delivery_id: int) -> None:
        status, body = await self._call("POST", f"/api/v1/deliveries/{delivery_id}/resend")
        if status != 202:
            raise ServerError(error_message(status, body))

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        yield  # the server's own worker delivers


# A page of deliveries and the cursor of the next one (None on the last page).
Page = tuple[list[dict[str, Any]], str | None]


async def through_pages(
    fetch: Callable[[Mapping[str, str]], Awaitable[Page]], params: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Up to `params["limit"]` deliveries (default 100), newest first, read page after
    page: a server ends a page early once it holds enough bytes."""
    wanted = int(params.get("limit", "100"))
    found: list[dict[str, Any]] = []
    asked = dict(params)
    while len(found) < wanted:  # every page but the last holds at least one delivery
        page, cursor = await fetch({**asked, "limit": str(wanted - len(found))})
        found += page
        if cursor is None or not page:
            break
        asked["cursor"] = cursor
    return found


def error_message(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f"the server answered {status}: {message or body}"


async def settle(
    runtime: Runtime, sent: set[tuple[str, str]], timeout: float
) -> list[dict[str, Any]]:
    """The deliveries of the events `sent` ((entity, event id) pairs), oldest first,
    once none is pending or after `timeout` seconds, whichever comes first."""
    deadline = time.monotonic() + timeout
    entities = sorted({entity for entity, _ in sent})
    async with runtime.delivering():
        while True:
            found: list[dict[str, Any]] = []
            for entity in entities:
                rows = await runtime.deliveries({"entity": entity, "limit": "1000"})
                found += [d for d in rows if (d["entity"], d["event"]["id"]) in sent]
            pending = any(d["status"] == "pending" for d in found)
            if not pending or time.monotonic() >= deadline:
                return sorted(found, key=lambda d: int(d["id"]))
            await asyncio.sleep(POLL)


async def settle_one(runtime: Runtime, delivery_id: int, timeout: float) -> dict[str, Any] | None:
    """Delivery `delivery_id` once it is no longer pending (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    async with runtime.delivering():
        while True:
            rows = await runtime.deliveries({"limit": "1000"})
            found = next((d for d in rows if d["id"] == delivery_id), None)
            if found is None or found["status"] != "pending" or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(POLL)
