"""The runtime's HTTP routes: `POST /api/v1/events`, `GET /api/v1/deliveries`, re-send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconcile.server.errors import ApiError
from reconcile.server.runtime import events, history
from reconcile.server.runtime.outbox import Due
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database

MAX_EVENTS_BYTES = 8 * 1024 * 1024
MAX_BATCH = 64  # event requests stored in one write transaction


class Intake:
    """Event requests stored together: whatever arrived while the last batch was being
    stored goes in the next, in one transaction and one commit.

    One thread at a time stores events, instead of one per request queueing for the
    single writer; a burst is absorbed at the cost of one commit per batch, not per
    request. Each request keeps its own answer (savepoints, `events.ingest_many`).
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        app_url: str,
        wake: Callable[[Sequence[Due]], None],
    ) -> None:
        self.db, self.box, self.app_url, self.wake = db, box, app_url, wake
        self._waiting: list[tuple[str | None, bytes, asyncio.Future[events.Answer]]] = []
        self._storing: asyncio.Task[None] | None = None

    async def submit(self, authorization: str | None, raw: bytes) -> events.Answer:
        answered: asyncio.Future[events.Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((authorization, raw, answered))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.ensure_future(self._store())
        return await answered

    async def _store(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            requests = [(authorization, raw) for authorization, raw, _ in batch]
            try:
                results = await run_in_threadpool(
                    events.ingest_many, self.db, self.box, requests, self.app_url
                )
            except Exception as error:  # a bug: these requests fail, later ones go on
                for *_, answered in batch:
                    if not answered.done():
                        answered.set_exception(error)
                continue
            except BaseException:  # cancelled at shutdown
                for *_, answered in batch:
                    answered.cancel()
                raise
            queued = [due for _, dues in results for due in dues]
            if queued:
                self.wake(queued)
            for (*_, answered), (answer, _) in zip(batch, results, strict=True):
                if not answered.done():
                    answered.set_result(answer)


def routes(
    db: Database,
    box: SecretBox,
    wake: Callable[[Sequence[Due]], None],
    read_body: Callable[[Request, int], Any],
    app_url: str = "https://wandb.ai",
) -> list[Route]:
    """The routes, over the service's database; `wake` tells the worker work is queued
    (and hands it what it can send at once)."""
    intake = Intake(db, box, app_url, wake)

    async def post_events(request: Request) -> Response:
        try:
            raw = await read_body(request, MAX_EVENTS_BYTES)
        except Exception:  # too large, or the client went away
            return JSONResponse(
                events.error_body(f"request body larger than {MAX_EVENTS_BYTES} bytes"), 413
            )
        status, body = await intake.submit(request.headers.get("authorization"), raw)
        return JSONResponse(body, status)

    async def get_deliveries(request: Request) -> Response:
        params = dict(request.query_params)
        authorization = request.headers.get("authorization")
        try:
            found = await run_in_threadpool(history.query, db, authorization, params)
        except ApiError as error:
            return _refused(error)
        return JSONResponse({"deliveries": found})

    async def post_resend(request: Request) -> Response:
        number = request.path_params["number"]
        authorization = request.headers.get("authorization")
        try:
            await run_in_threadpool(history.resend, db, authorization, number)
        except ApiError as error:
            return _refused(error)
        wake(())
        return JSONResponse({"delivery": number, "status": "pending"}, 202)

    return [
        Route("/api/v1/events", post_events, methods=["POST"]),
        Route("/api/v1/deliveries", get_deliveries, methods=["GET"]),
        Route("/api/v1/deliveries/{number:int}/resend", post_resend, methods=["POST"]),
    ]


def _refused(error: ApiError) -> Response:
    body = events.error_body(error.message, code=error.code)
    return JSONResponse(body, events.rest_status(error))
