"""An httpx client whose every request ends by a total deadline and whose answers are
read up to a size limit: a server cannot hold a client, or fill its memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconcile.core.errors import ReconcileError


class AnswerRefused(ReconcileError):
    """Raised when an answer is larger than the limit, or compressed although not asked."""


class Bounded(httpx.AsyncClient):
    """An httpx client whose every request ends by `deadline` seconds, the answer's
    body included (a server dripping it a byte at a time gets no more), and reads at
    most `limit` bytes of an answer. Answers are always read whole, within those bounds.

    The deadline is a timeout (httpx.ReadTimeout), so the retry policy treats it as
    one: retried when the request is idempotent. Too large an answer is not retried.
    """

    def __init__(self, *, deadline: float, limit: int, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = deadline
        self.limit = limit

    async def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        options["stream"] = True
        try:
            async with asyncio.timeout(self.deadline):
                response = await super().send(request, **options)
                try:
                    content = await _read(response, self.limit)
                finally:
                    await response.aclose()
        except TimeoutError:
            where = f"{request.method} {request.url.path}"
            message = f"{where}: no complete answer within {self.deadline:g} s"
            raise httpx.ReadTimeout(message, request=request) from None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )


async def _read(response: httpx.Response, limit: int) -> bytes:
    where = f"{response.request.method} {response.request.url.path}"
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        # Asked for none: a compressed answer could hold far more than its bytes.
        raise AnswerRefused(f"GitHub answered {where} compressed ({encoding}); refused")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:  # whatever its Content-Length said
            raise AnswerRefused(
                f"GitHub's answer to {where} is larger than {limit:,} bytes; stopped reading it"
            )
        chunks.append(chunk)
    return b"".join(chunks)
