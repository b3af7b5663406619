"""`reconcile serve` whose upload URLs discard the body (no file, no used mark, 200 once
it is read) and whose CommitArtifact does not ask for the files: what the SDK's own work
costs against a server whose uploads cost nothing (`bench_artifacts.py --floor`).

Run: `python bench/discarding_serve.py --db PATH --port N [other serve options]`.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconcile.cli import main
from reconcile.server.clients import artifact_writes, routes


async def _discard(_handlers: Any, request: Request, _file_id: int) -> Response:
    async for _ in request.stream():
        pass
    return Response(status_code=200)


def _uploaded(_con: sqlite3.Connection, _art: object) -> None:
    return None


if __name__ == "__main__":
    routes._Handlers._receive = _discard  # type: ignore[method-assign]
    artifact_writes._require_uploaded = _uploaded  # type: ignore[assignment]
    sys.argv = ["reconcile", "serve", *sys.argv[1:]]
    main()
