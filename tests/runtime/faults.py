"""A loopback HTTP endpoint that misbehaves on purpose, one behaviour per path.

Raw asyncio in a background thread, so it can do what a real framework would not:
hang, dribble headers, drip a body, reset the connection. Every request it reads is
recorded; every slow loop is bounded and stops when the client goes away.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Self

SLOW_STEP = 0.05
SLOW_LIMIT = 600  # steps: every slow answer ends by itself within 30 s
HUGE = 64 * 1024 * 1024


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackServer:
    """Serves `_serve` on an event loop in a thread of its own while a `with` block runs;
    `port` is the one it listens on."""

    port: int
    label = "the server"

    def _listen(self) -> Awaitable[asyncio.Server]:
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"{self.label} did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await self._listen()
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()


@dataclass
class FaultServer(LoopbackServer):
    host: str = "127.0.0.1"
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    retry_after: str = "7"
    tls: ssl.SSLContext | None = None
    sni: list[str | None] = field(default_factory=list)
    huge_sent: int = 0
    connections: int = 0  # connections accepted
    label = "the fault server"

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def _listen(self) -> Awaitable[asyncio.Server]:
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        return asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0  # requests answered on this connection
        try:
            while True:
                got = await _read_request(reader)
                if got is None:
                    return
                self.requests.append(got)
                path = got.path.split("?")[0]
                if served and path in ("/drop-second", "/reset-second"):
                    # As a server whose idle timeout fired as the request came: no answer.
                    if path == "/reset-second":
                        await _reset(writer)
                    return
                handler = self._handlers().get(path, _ok)
                if not await handler(writer):
                    return
                served += 1
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _handlers(self) -> dict[str, Callable[[asyncio.StreamWriter], Awaitable[bool]]]:
        return {
            "/500": _status(500, b"Internal Server Error: boom"),
            "/503": _status(503, b"unavailable"),
            "/404": _status(404, b"no such hook"),
            "/429": _status(429, b"slow down", f"Retry-After: {self.retry_after}\r\n"),
            "/hang": self._hang,
            "/slow-headers": self._slow_headers,
            "/drip": self._drip,
            "/redirect": _status(302, b"", f"Location: {self.url('/target')}\r\n"),
            "/reset": _reset,
            "/huge": self._huge,
            "/chunked": _chunked,
            "/drop": _drop,
            "/close": _status(200, b"bye", "Connection: close\r\n"),
            "/until-close": _until_close,
        }

    async def _hang(self, writer: asyncio.StreamWriter) -> bool:
        for _ in range(SLOW_LIMIT):
            if self._stop.is_set() or writer.is_closing():
                break
            await asyncio.sleep(SLOW_STEP)
            writer.write(b"")  # notices a peer that went away
            await writer.drain()
        return False

    async def _slow_headers(self, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(SLOW_LIMIT):
            if self._stop.is_set():
                break
            writer.write(f"X-Slow-{i}: x\r\n".encode())
            await writer.drain()
            await asyncio.sleep(SLOW_STEP)
        return False

    async def _huge(self, writer: asyncio.StreamWriter) -> bool:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n".encode())
        chunk = b"y" * 65536
        for _ in range(HUGE // len(chunk)):
            writer.write(chunk)
            await writer.drain()  # raises once the client has closed the connection
            self.huge_sent += len(chunk)
        return True

    async def _drip(self, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(SLOW_LIMIT):
            if self._stop.is_set():
                break
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(SLOW_STEP)
        return False


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, path, headers, body)


def _status(
    code: int, body: bytes, extra: str = ""
) -> Callable[[asyncio.StreamWriter], Awaitable[bool]]:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        head = f"HTTP/1.1 {code} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        return True

    return answer


_ok = _status(200, b'{"ok":true}', "Content-Type: application/json\r\nX-Answer: yes\r\n")


async def _reset(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return False


async def _chunked(writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(b"6\r\nhello \r\n")
    await writer.drain()
    writer.write(b"5\r\nworld\r\n0\r\n\r\n")
    await writer.drain()
    return True


async def _until_close(writer: asyncio.StreamWriter) -> bool:
    """An HTTP/1.0 answer without a length: its body ends with the connection."""
    writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    await writer.drain()
    return False


async def _drop(writer: asyncio.StreamWriter) -> bool:
    """No answer at all: the connection is closed."""
    return False
