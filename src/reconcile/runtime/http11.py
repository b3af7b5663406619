"""HTTP/1.1 exchanges on asyncio streams, framed by h11, over a keep-alive pool.

Connections are pooled per origin: the checked address, the port, the name carried in
`Host` and TLS SNI, and the scheme. A TLS connection verified for one name therefore
never carries a request for another, and a request goes only to the address it names.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import h11

READ_CHUNK = 64 * 1024
IDLE_EXPIRY = 5.0  # seconds an idle connection is kept (as httpx did)
IDLE_PER_ORIGIN = 32  # idle connections kept per origin; more are closed
# Headers of one answer past this size are a protocol error (h11's default).
MAX_HEAD = 16 * 1024


@dataclass(frozen=True)
class Origin:
    """Where a connection goes and what it is for: `ip` is the checked address; `name`
    is sent as SNI and the certificate is verified against it (https only)."""

    scheme: str
    name: str
    ip: str
    port: int


@dataclass(frozen=True)
class Answer:
    """An answer, its body read up to the bound given (`whole`: the body ended)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    whole: bool


class Failed(Exception):
    """An exchange that got no answer: `kind` is connect, tls, reset or protocol."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind, self.text = kind, text


class _Stale(Exception):
    """A reused connection that the server had closed: nothing of an answer came."""


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(
        default_factory=lambda: h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    )
    idle_since: float = 0.0
    reused: bool = False

    def usable(self, now: float) -> bool:
        """Idle, recent, and not closed by the server meanwhile."""
        return (
            now - self.idle_since < IDLE_EXPIRY
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.reader.exception() is None
        )

    def discard(self) -> None:
        self.writer.transport.abort()


class Pool:
    """Keep-alive connections per origin; each exchange has a connection to itself."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.idle: dict[Origin, list[_Connection]] = {}
        self._swept = time.monotonic()

    async def exchange(self, origin: Origin, head: h11.Request, body: bytes, limit: int) -> Answer:
        """Send one request and read its answer's body up to `limit` bytes.

        A reused connection that turns out closed by the server before any byte of an
        answer came is tried once more on a new one (the request went nowhere that
        answered; a receiver that did see it dedupes on `webhook-id`, as for any retry).
        """
        connection = self._take(origin)
        if connection is not None:
            try:
                return await self._over(connection, origin, head, body, limit)
            except _Stale:
                pass
        connection = await self._open(origin)
        try:
            return await self._over(connection, origin, head, body, limit)
        except _Stale:
            raise Failed("protocol", "the server closed the connection without an answer") from None

    async def _over(
        self, connection: _Connection, origin: Origin, head: h11.Request, body: bytes, limit: int
    ) -> Answer:
        try:
            answer = await _exchange(connection, head, body, limit)
        except BaseException:  # failed, or cancelled by the deadline: never reused
            connection.discard()
            raise
        self._give(origin, connection, answer.whole)
        return answer

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self.idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                connection.reused = True
                return connection
            connection.discard()
        return None

    def _give(self, origin: Origin, connection: _Connection, whole: bool) -> None:
        self._sweep()
        state = connection.h11
        if whole and state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            idle = self.idle.setdefault(origin, [])
            if len(idle) < IDLE_PER_ORIGIN:
                connection.idle_since = time.monotonic()
                idle.append(connection)
                return
        connection.discard()

    def _sweep(self) -> None:
        """Close connections idle past IDLE_EXPIRY, at most once per IDLE_EXPIRY: an
        endpoint that is not sent to again would otherwise hold its sockets open."""
        now = time.monotonic()
        if now - self._swept < IDLE_EXPIRY:
            return
        self._swept = now
        for origin, connections in list(self.idle.items()):
            kept = []
            for connection in connections:
                if connection.usable(now):
                    kept.append(connection)
                else:
                    connection.discard()
            if kept:
                self.idle[origin] = kept
            else:
                del self.idle[origin]

    async def _open(self, origin: Origin) -> _Connection:
        tls = self.tls if origin.scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                origin.ip,
                origin.port,
                ssl=tls,
                server_hostname=origin.name if tls is not None else None,
                limit=READ_CHUNK,
            )
        except (ssl.SSLError, ssl.CertificateError) as error:
            raise Failed("tls", str(error) or type(error).__name__) from None
        except OSError as error:
            raise Failed("connect", str(error) or type(error).__name__) from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        idle, self.idle = self.idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.discard()


async def _exchange(connection: _Connection, head: h11.Request, body: bytes, limit: int) -> Answer:
    state = connection.h11
    data = state.send(head) or b""
    data += (state.send(h11.Data(data=body)) or b"") if body else b""
    data += state.send(h11.EndOfMessage()) or b""
    try:
        connection.writer.write(data)
        await connection.writer.drain()
        response = await _response(connection)
        return await _body(connection, response, limit)
    except OSError as error:  # reset or broken pipe
        if connection.reused and state.their_state is h11.SEND_RESPONSE:
            raise _Stale from None
        raise Failed("reset", str(error) or type(error).__name__) from None
    except h11.RemoteProtocolError as error:
        raise Failed("protocol", str(error) or "the answer is not valid HTTP/1.1") from None


async def _next(connection: _Connection) -> object:
    state = connection.h11
    while True:
        event = state.next_event()
        if event is not h11.NEED_DATA:
            return event
        chunk = await connection.reader.read(READ_CHUNK)
        if not chunk and connection.reused and state.their_state is h11.SEND_RESPONSE:
            raise _Stale  # closed while idle: no byte of an answer came
        state.receive_data(chunk)


async def _response(connection: _Connection) -> h11.Response:
    while True:
        event = await _next(connection)
        if isinstance(event, h11.Response):
            return event
        if not isinstance(event, h11.InformationalResponse):  # 1xx: wait for the answer
            raise Failed("protocol", f"unexpected {type(event).__name__} before an answer")


async def _body(connection: _Connection, response: h11.Response, limit: int) -> Answer:
    data = bytearray()
    whole = False
    while len(data) < limit:
        event = await _next(connection)
        if isinstance(event, h11.Data):
            data += event.data[: limit - len(data)]
        elif isinstance(event, h11.EndOfMessage):
            whole = True
            break
        else:
            raise Failed("protocol", f"unexpected {type(event).__name__} in an answer")
    headers = tuple(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers
    )
    return Answer(response.status_code, headers, bytes(data), whole)
