"""A loopback webhook endpoint for runtime tests: records every request, answers by path.

`/ok` answers 200; `/flaky` (and paths under it) answers 500 to the first attempt of
each `webhook-id` and 200 to the next (half of all attempts fail); `/429-once` answers
429 with `Retry-After` first; `/404` always 404; `/down` always 503; `/hang` never
answers (bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field

from tests.runtime.faults import LoopbackServer, Received, _read_request

HANG_LIMIT = 30.0
RETRY_AFTER = 7


@dataclass
class Receiver(LoopbackServer):
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)
    label = "the receiver"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _listen(self) -> Awaitable[asyncio.Server]:
        return asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (got := await _read_request(reader)) is not None:
                self.requests.append(got)
                if not await self._answer(got, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _answer(self, got: Received, writer: asyncio.StreamWriter) -> bool:
        message_id = got.headers.get("webhook-id", "")
        self.attempts[message_id] += 1
        if got.path == "/hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), HANG_LIMIT)
            return False
        first = self.attempts[message_id] == 1
        status, extra = 200, ""
        if got.path.startswith("/flaky") and first:
            status = 500
        elif got.path == "/429-once" and first:
            status, extra = 429, f"Retry-After: {RETRY_AFTER}\r\n"
        elif got.path == "/404":
            status = 404
        elif got.path == "/down":
            status = 503
        if status == 200:
            self.successes[message_id] += 1
        # The answer echoes the token, as some endpoints do: history must mask it.
        body = b"ok" if status == 200 else b"boom " + got.headers.get("authorization", "").encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        return True
