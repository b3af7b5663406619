"""The runtime's HTTP routes: `POST /api/v1/events`, `GET /api/v1/deliveries`, re-send."""

from __future__ import annotations

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


def routes(
    db: Database,
    box: SecretBox,
    wake: Callable[[Sequence[Due]], None],
    read_body: Callable[[Request, int], Any],
    app_url: str = "https://wandb.ai",
) -> list[Route]:
    """The routes, over the service's database; `wake` tells the worker work is queued
    (and hands it what it can send at once)."""

    async def post_events(request: Request) -> Response:
        try:
            raw = await read_body(request, MAX_EVENTS_BYTES)
        except Exception:  # too large, or the client went away
            return JSONResponse(
                events.error_body(f"request body larger than {MAX_EVENTS_BYTES} bytes"), 413
            )
        authorization = request.headers.get("authorization")
        (status, body), queued = await run_in_threadpool(
            events.ingest, db, box, authorization, raw, app_url
        )
        if queued:
            wake(queued)
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
