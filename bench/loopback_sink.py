"""A healthy loopback receiver for the runtime benchmarks, in a process of its own.

`python bench/loopback_sink.py PORT`: answers every POST `200 ok` and notes when it
arrived (`time.monotonic()`, the same clock in every process of the machine) and the
`version` of its JSON body. `GET /arrivals` returns the notes and forgets them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import uvicorn

arrivals: list[tuple[float, Any]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    at = time.monotonic()
    if scope["method"] == "GET":
        content = json.dumps(arrivals).encode()
        arrivals.clear()
    else:
        try:
            version = json.loads(body).get("version")
        except (ValueError, AttributeError):
            version = None
        arrivals.append((at, version))
        content = b"ok"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
