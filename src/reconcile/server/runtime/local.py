"""The runtime on the embedded database, in this process: events in, deliveries sent by
an in-process worker while a command waits, history read and re-sending, no server listening.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from reconcile.core.errors import ServerError
from reconcile.runtime import remote
from reconcile.server.api.service import GraphQLService
from reconcile.server.errors import ApiError
from reconcile.server.runtime import events, history
from reconcile.server.runtime.worker import Worker


class LocalRuntime:
    """The runtime API of the embedded database at `db_path`, called directly.

    `allow` is the delivery allow-list (`--allow-delivery-to`); deliveries are sent
    only inside `delivering()`.
    """

    def __init__(self, db_path: Path, authorization: str, allow: tuple[str, ...] = ()) -> None:
        self.service = GraphQLService(db_path)
        self.authorization = authorization
        self.allow = allow

    def close(self) -> None:
        self.service.close()

    async def send_events(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        (status, body), _queued = await asyncio.to_thread(
            events.ingest, self.service.db, self.service.box, self.authorization, raw, APP_URL
        )
        return status, body

    async def deliveries(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return await remote.through_pages(self._page, params)

    async def _page(self, params: Mapping[str, str]) -> remote.Page:
        try:
            page = await asyncio.to_thread(
                history.query, self.service.db, self.authorization, dict(params)
            )
        except ApiError as error:
            raise ServerError(error.message) from None
        return page.deliveries, page.next

    async def resend(self, delivery_id: int) -> str:
        try:
            return await asyncio.to_thread(
                history.resend, self.service.db, self.authorization, delivery_id
            )
        except ApiError as error:
            raise ServerError(error.message) from None

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """Run the delivery worker while the block runs."""
        worker = Worker(self.service.db, self.service.box, self.allow)
        task = asyncio.ensure_future(worker.run())
        try:
            yield
        finally:
            worker.stop()  # a cancellation can be lost as a wake-up completes; the flag is not
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


APP_URL = "https://wandb.ai"
