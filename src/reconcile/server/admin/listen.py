"""uvicorn as `reconcile serve` runs it: limits on connections, headers, read time, unread bodies.

uvicorn's httptools protocol bounds none of these: a client could hold hundreds of
half-sent requests open, send megabytes of headers, or stream gigabytes of body after
its request was refused. `LimitedProtocol` adds the limits; `config` builds the uvicorn
configuration that uses it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Documented in the README ("The server"); `reconcile serve` options change them."""

    # Open connections at once; more are answered 503 and closed (clients retry 503).
    # Above the official SDK's own peak: it uploads an artifact's files 128 at a time,
    # most on fresh connections (Go keeps 2 idle per host), beside its GraphQL ones; at
    # 100 it was refused hundreds of times per 1,000 files, each retry after 2 s or more.
    max_connections: int = 256
    # Request line and headers together, in bytes; more is answered 431.
    max_header_bytes: int = 64 * 1024
    # Seconds from a request's first byte to its last (headers and body).
    read_timeout: float = 30.0
    # Bytes of a request body still read (and dropped, never kept) after the request
    # was answered without it (a 401, a 413): as much as the largest body any route
    # takes, so a client that sends its whole body before reading still gets its answer
    # (closing with unread bytes resets the connection and loses the answer); past it
    # the connection is closed, so a refused request costs at most this much to drop
    # whatever body it declares.
    max_unread_body: int = 8 * 1024 * 1024


# How often (seconds) a thread building a large answer must let others have the
# interpreter. Python's default, 5 ms, made a small request wait that long at each of
# its hand-offs between the event loop and a worker thread while a large answer was
# built: the other user's `viewer` took up to 111 ms beside the dearest queries, and
# 18-54 ms at 1 ms (bench/README.md).
SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """Settings of the serving process's interpreter (`reconcile serve` only)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def _status(code: int, reason: str, message: str) -> bytes:
    body = message.encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _HeadersTooLarge(Exception):
    pass


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded in connections, header bytes and read time."""

    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_bytes = 0
        self._dropped = 0
        self._too_large = False
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("connection refused: too many open connections")
            self._refuse(_status(503, "Service Unavailable", "too many open connections"))
            return
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._start_clock()  # the first bytes of the next request on this connection
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        self._dropped = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None and self.cycle.response_complete:
            # Answered already: what is left of the body is dropped, up to a bound.
            self._dropped += len(body)
            if self._dropped > self.limits.max_unread_body and not self.transport.is_closing():
                log.info("body of an answered request not read; connection closed")
                self._stop_clock()
                self.transport.close()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_clock()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # The parser reports our own refusal as an invalid request: answer it as what it is.
        if self._too_large:
            limit = self.limits.max_header_bytes
            message = f"request headers larger than {limit} bytes"
            self._refuse(_status(431, "Request Header Fields Too Large", message))
            return
        super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._too_large = True
            raise _HeadersTooLarge

    def _start_clock(self) -> None:
        self._stop_clock()
        self._deadline = self.loop.call_later(self.limits.read_timeout, self._timed_out)

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        log.info("request not received in time; connection closed", extra=self._client())
        if self.cycle is None or self.cycle.response_complete:
            message = f"request not received within {self.limits.read_timeout:g} s"
            self._refuse(_status(408, "Request Timeout", message))
        else:
            # The app is waiting for the body; closing tells it the client is gone.
            self.transport.close()

    def _refuse(self, response: bytes) -> None:
        self._stop_clock()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _client(self) -> dict[str, Any]:
        return {"client": f"{self.client[0]}:{self.client[1]}"} if self.client else {}


def config(app: Any, limits: Limits | None = None, **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration of `reconcile serve` for `app`, with `limits`."""
    chosen = limits or Limits()
    protocol = type("BoundedProtocol", (LimitedProtocol,), {"limits": chosen})
    return uvicorn.Config(
        app,
        http=protocol,
        # Connections are refused above by the protocol; this bounds requests in flight
        # (uvicorn counts the connection asking as one already).
        limit_concurrency=chosen.max_connections + 1,
        **extra,
    )
