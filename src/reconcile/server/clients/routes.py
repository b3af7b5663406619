"""The HTTP routes real W&B clients call besides GraphQL: `POST .../file_stream` (Basic
auth checked from the header before the body is read), `PUT /files/uploads/{id}` (the
signed URL checked before the body is read), and the crash-detection loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from reconcile.core import settings
from reconcile.server.api import auth
from reconcile.server.clients import receiving, stream, uploads
from reconcile.server.errors import ApiError
from reconcile.server.runtime import events
from reconcile.server.runtime.outbox import Due
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database

log = logging.getLogger(__name__)

MAX_STREAM_BYTES = 16 * 1024 * 1024
# A run that posts nothing for this long has crashed (the SDK posts at least every
# 15 s while alive, and its last post ends the run). README: "Real W&B clients".
CRASH_TIMEOUT_ENV = "RECONCILE_RUN_CRASH_SECONDS"
CRASH_TIMEOUT = 300.0


def crash_timeout() -> float:
    return settings.positive_float(CRASH_TIMEOUT_ENV, CRASH_TIMEOUT)


def _error(message: str, status: int, code: str = "BAD_REQUEST") -> JSONResponse:
    return JSONResponse(events.error_body(message, code=code), status)


class _Handlers:
    """The routes' handlers over the service's database."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        signer: uploads.Signer,
        wake: Callable[[Sequence[Due]], None],
        read_body: Callable[[Request, int], Any],
    ) -> None:
        self.db, self.box, self.signer, self.wake, self.read_body = db, box, signer, wake, read_body
        self.folder = uploads.files_folder(db.path)
        self.marks = receiving.UsedMarks(db)

    async def file_stream(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            auth.key_from_header(authorization)
            with self.db.read() as con:
                user = auth.authenticate(con, authorization)
        except ApiError as error:
            return _error(error.message, events.rest_status(error), error.code)
        try:
            raw = await self.read_body(request, MAX_STREAM_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:  # too large
            return _error(f"request body larger than {MAX_STREAM_BYTES} bytes", 413)
        try:
            body = json.loads(raw)
        except ValueError:  # not UTF-8 or not JSON
            return _error("the body is not JSON", 400)
        except RecursionError:
            return _error("the body nests too deeply", 400)
        entity, project, run = (request.path_params[k] for k in ("entity", "project", "run"))

        def apply() -> list[Due]:
            with self.db.write() as con:
                return stream.apply(con, self.box, user, (entity, project, run), body)

        try:
            queued = await run_in_threadpool(apply)
        except ApiError as error:
            return _error(error.message, events.rest_status(error), error.code)
        if queued:
            self.wake(queued)
        return JSONResponse(stream.ANSWER)

    async def upload(self, request: Request) -> Response:
        params = request.query_params
        try:
            file_id = self.signer.check(
                request.path_params["file"], params.get("expires", ""), params.get("signature", "")
            )
        except uploads.Refused as refused:
            return _error(str(refused), 403, "FORBIDDEN")
        with self.db.read() as con:
            fresh = uploads.unused(con, file_id)
        if not fresh:
            return _error("upload URL already used", 403, "FORBIDDEN")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > uploads.MAX_UPLOAD_BYTES:
            return _error(f"file larger than {uploads.MAX_UPLOAD_BYTES} bytes", 413)
        return await self._receive(request, file_id)

    async def _receive(self, request: Request, file_id: int) -> Response:
        """The body, gathered into ~1 MiB pieces written off the event loop."""
        target = receiving.Target(self.folder, file_id)
        pieces: list[bytes] = []
        gathered = size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > uploads.MAX_UPLOAD_BYTES:
                    raise _TooLarge
                if gathered >= receiving.PIECE:  # the last piece goes with the commit
                    await receiving.off_loop(target.write, pieces)
                    pieces, gathered = [], 0
                pieces.append(chunk)
                gathered += len(chunk)
        except (_TooLarge, ClientDisconnect) as failed:
            await receiving.off_loop(target.discard)
            if isinstance(failed, _TooLarge):
                return _error(f"file larger than {uploads.MAX_UPLOAD_BYTES} bytes", 413)
            return Response(status_code=400)
        if not await receiving.off_loop(receiving.keep, target, pieces, self.marks, size):
            return _error("upload URL already used", 403, "FORBIDDEN")
        return Response(status_code=200)

    async def download(self, request: Request) -> Response:
        """A stored file behind a signed URL (artifact files and manifests)."""
        params = request.query_params
        try:
            file_id = uploads.check_download(
                self.signer,
                request.path_params["file"],
                params.get("expires", ""),
                params.get("signature", ""),
            )
        except uploads.Refused as refused:
            return _error(str(refused), 403, "FORBIDDEN")
        path = self.folder / str(file_id)
        if not path.is_file():
            return _error("file not found", 404, "NOT_FOUND")
        return FileResponse(path, media_type="application/octet-stream")


def routes(
    db: Database,
    box: SecretBox,
    signer: uploads.Signer,
    wake: Callable[[Sequence[Due]], None],
    read_body: Callable[[Request, int], Any],
) -> list[Route]:
    handlers = _Handlers(db, box, signer, wake, read_body)
    return [
        Route(
            "/files/{entity}/{project}/{run}/file_stream", handlers.file_stream, methods=["POST"]
        ),
        Route("/files/uploads/{file}", handlers.upload, methods=["PUT"]),
        Route("/files/downloads/{file}", handlers.download, methods=["GET"]),
    ]


class _TooLarge(Exception):
    pass


async def detect_crashes(
    db: Database, box: SecretBox, wake: Callable[[Sequence[Due]], None], timeout: float
) -> None:
    """Every so often, fail the runs that stopped posting (until cancelled)."""
    while True:
        await asyncio.sleep(min(max(timeout / 4, 0.05), 30.0))
        try:
            queued = await asyncio.to_thread(stream.sweep, db, box, timeout)
        except Exception:  # a fault of ours: logged, and the next sweep tries again
            log.exception("crash detection failed")
            continue
        if queued:
            wake(queued)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
