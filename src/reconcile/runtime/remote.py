"""The runtime API of a server over HTTP (`/api/v1/events`, `/api/v1/deliveries`), and
what `emit` waits for: the deliveries of the events it sent, until none is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx

from reconcile.core.errors import ServerError

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
POLL = 0.1  # seconds between looks at the deliveries while waiting


class Runtime(Protocol):
    """A server's runtime API: over HTTP, or the embedded database in this process."""

    async def send_events(self, raw: bytes) -> tuple[int, dict[str, Any]]: ...
    async def deliveries(self, params: Mapping[str, str]) -> list[dict[str, Any]]: ...
    async def resend(self, delivery_id: int) -> str:
        """Send a failed or pending delivery again now; the status it had."""
        ...

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

    async def resend(self, delivery_id: int) -> str:
        status, body = await self._call("POST", f"/api/v1/deliveries/{delivery_id}/resend")
        if status != 202:
            raise ServerError(error_message(status, body))
        was = body.get("was") if isinstance(body, dict) else None
        return was if isinstance(was, str) else "failed"  # an older server re-sends failed only

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
    once none is pending, after `timeout` seconds, or once every pending one waits for
    a retry due after that, whichever comes first."""
    entities = sorted({entity for entity, _ in sent})

    async def look() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for entity in entities:
            rows = await runtime.deliveries({"entity": entity, "limit": "1000"})
            found += [d for d in rows if (d["entity"], d["event"]["id"]) in sent]
        return sorted(found, key=lambda d: int(d["id"]))

    return await _until_settled(runtime, look, timeout)


async def settle_ids(runtime: Runtime, ids: set[int], timeout: float) -> list[dict[str, Any]]:
    """Deliveries `ids`, oldest first, once settled as `settle` says (missing ones left out)."""

    async def look() -> list[dict[str, Any]]:
        rows = await runtime.deliveries({"limit": "1000"})
        return sorted((d for d in rows if d["id"] in ids), key=lambda d: int(d["id"]))

    return await _until_settled(runtime, look, timeout)


async def settle_one(runtime: Runtime, delivery_id: int, timeout: float) -> dict[str, Any] | None:
    """Delivery `delivery_id` once settled as `settle` says (None if there is none)."""
    found = await settle_ids(runtime, {delivery_id}, timeout)
    return found[0] if found else None


async def _until_settled(
    runtime: Runtime, look: Callable[[], Awaitable[list[dict[str, Any]]]], timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    wall_deadline = time.time() + timeout
    async with runtime.delivering():
        while True:
            found = await look()
            waiting = [d for d in found if d["status"] == "pending"]
            if all(_due_after(d, wall_deadline) for d in waiting):
                return found
            if time.monotonic() >= deadline:
                return found
            await asyncio.sleep(POLL)


def _due_after(delivery: dict[str, Any], wall_deadline: float) -> bool:
    """Whether a pending delivery was tried and its next attempt is due after the wait."""
    at = delivery.get("next_attempt_at")
    if not delivery["attempts"] or not isinstance(at, str):
        return False
    try:
        return datetime.fromisoformat(at).timestamp() > wall_deadline
    except ValueError:
        return False
