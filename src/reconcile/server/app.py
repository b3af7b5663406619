"""The ASGI app: `POST /graphql` (W&B-compatible) and `GET /healthz`.

The same app serves uvicorn and in-process clients (`httpx.ASGITransport`). The key
is checked before the body is read; answers are built and encoded off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconcile.runtime.addresses import Policy
from reconcile.server.api.service import GraphQLService, encode, refused
from reconcile.server.api.validation import json_depth, strict_loads
from reconcile.server.clients import collections as clients_collections
from reconcile.server.clients import graphql as clients_graphql
from reconcile.server.clients import routes as clients_routes
from reconcile.server.clients.uploads import Signer
from reconcile.server.errors import ApiError
from reconcile.server.runtime import api as runtime_api
from reconcile.server.runtime.outbox import Due
from reconcile.server.runtime.worker import Worker
from reconcile.server.store.crypto import load_or_create_key

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# GraphQL variables nest a few levels (input objects, lists); JSON values travel as
# strings (JSONString) with their own limit.
MAX_BODY_DEPTH = 64


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _bad(message: str, status: int = 400) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    return JSONResponse(body, status_code=status)


def _load(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity, bounded nesting, no lone surrogates."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    deep = ValueError(f"the body nests deeper than {MAX_BODY_DEPTH} levels")
    try:
        body = strict_loads(text)
    except RecursionError:
        raise deep from None
    if json_depth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise deep
    # A `\ud800` escape decodes to a lone surrogate, which neither SQLite nor any
    # answer can encode.
    if "\\u" in text:
        try:
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("the body holds a lone surrogate (\\ud800-\\udfff)") from None
    return body


def _parse(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    """Query, variables and operation name of a GraphQL POST body."""
    body = _load(raw)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError("the body must be a JSON object with a string `query`")
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("`variables` must be a JSON object")
    operation = body.get("operationName")
    if operation is not None and not isinstance(operation, str):
        raise ValueError("`operationName` must be a string")
    # The official SDK sends "operationName": "" for raw queries: treat it as absent.
    return body["query"], variables, operation or None


def _clients_resolvers() -> dict[str, dict[str, Any]]:
    """The resolvers of the SDK's writes (runs, collection edits), merged per type."""
    merged: dict[str, dict[str, Any]] = {}
    for table in (clients_graphql.RESOLVERS, clients_collections.RESOLVERS):
        for type_name, fields in table.items():
            merged.setdefault(type_name, {}).update(fields)
    return merged


def create_app(
    db_path: Path,
    *,
    service: GraphQLService | None = None,
    disabled: frozenset[str] = frozenset(),
    allow_delivery_to: tuple[str, ...] | Policy | None = None,
) -> Starlette:
    """The server app over the database at `db_path` (created and migrated if needed);
    `disabled`: features it answers as not enabled. With `allow_delivery_to` (possibly
    empty; entries or a whole policy), its lifespan runs the delivery worker."""
    handler = service or GraphQLService(db_path, disabled, _clients_resolvers())
    signer = Signer(load_or_create_key(db_path))
    handler.root_value = signer
    worker: list[Worker] = []

    def wake(queued: Sequence[Due]) -> None:
        for one in worker:
            if queued:
                one.hand_over(queued)
            else:  # a resend by hand: the delivery is due in the outbox, look now
                one.wake()

    handler.after_write = wake

    def pace() -> float | None:
        return worker[0].pace.rate(time.monotonic()) if worker else None

    async def graphql(request: Request) -> Response:
        started = time.perf_counter()
        header = request.headers.get("authorization")
        try:
            # On the loop, not in a thread: one indexed read on a connection of the read
            # pool, which waits for no lock (reads never hold one, WAL lets writers be).
            user = handler.authenticate(header)
        except ApiError as error:
            # Refused unread: the body is neither parsed nor cached.
            status, body = refused(error, None, started)
            return Response(encode(body), status_code=status, media_type="application/json")
        try:
            raw = await _read_body(request, MAX_BODY_BYTES)
        except _TooLarge:
            return _bad(f"request body larger than {MAX_BODY_BYTES} bytes", 413)
        except ClientDisconnect:
            # Nobody is left to answer: one line, no traceback.
            log.info("client disconnected before sending the whole body")
            return Response(status_code=400)
        try:
            query, variables, operation = _parse(raw)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            return _bad(str(error))
        # Built and encoded in a worker thread: a large answer never blocks the loop.
        base_url = str(request.base_url).rstrip("/")
        status, content = await run_in_threadpool(
            handler.respond, user, query, variables, operation, base_url
        )
        return Response(content, status_code=status, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The thread pool's first use imports anyio's backend (about 0.1 s): here, not
        # in the first request's answer (a `wandb.init`).
        await run_in_threadpool(lambda: None)
        task = None
        if allow_delivery_to is not None:
            worker.append(Worker(handler.db, handler.box, allow_delivery_to))
            task = asyncio.ensure_future(worker[0].run())
        crashes = asyncio.ensure_future(
            clients_routes.detect_crashes(
                handler.db, handler.box, wake, clients_routes.crash_timeout()
            )
        )
        yield
        await clients_routes.stop(crashes)
        if task is not None:
            worker[0].stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        handler.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *runtime_api.routes(handler.db, handler.box, wake, _read_body, pace=pace),
            *clients_routes.routes(handler.db, handler.box, signer, wake, _read_body),
        ],
        lifespan=lifespan,
    )
    app.state.service = handler
    return app
