"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 that records every GraphQL request.

Rules, checked in order, decide per request: answer with a status, drop the connection
(before or after forwarding), hold until released, or call back after forwarding.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import graphql
import httpx

HOP_BY_HOP = frozenset(
    {"connection", "content-length", "content-encoding", "host", "keep-alive", "transfer-encoding"}
)
LOCK_OPERATIONS = ("AcquireApplyLock", "ReleaseApplyLock")
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
HOLD_LIMIT = 60.0
FAULT_BODY = b'{"errors":[{"message":"injected fault"}]}'


@dataclass
class Request:
    """One request as the proxy saw it, and what it did with it."""

    method: str
    path: str
    operation: str | None
    mutation: bool
    variables: dict[str, Any]
    fields: tuple[str, ...] = ()  # the root fields: one per mutation in a batched request
    lock: bool = False
    outcome: str = "forwarded"
    status: int | None = None


def parse_graphql(body: bytes) -> tuple[str | None, bool, dict[str, Any], tuple[str, ...]]:
    """The operation name, whether it mutates, the variables and root fields of a GraphQL body."""
    try:
        payload = json.loads(body)
        document = graphql.parse(payload["query"])
    except (ValueError, KeyError, TypeError, graphql.GraphQLError):
        return None, False, {}, ()
    wanted = payload.get("operationName") or None
    for node in document.definitions:
        if not isinstance(node, graphql.OperationDefinitionNode):
            continue
        name = node.name.value if node.name else None
        if wanted is None or name == wanted:
            is_mutation = node.operation == graphql.OperationType.MUTATION
            roots = tuple(
                field.name.value
                for field in node.selection_set.selections
                if isinstance(field, graphql.FieldNode)
            )
            return name, is_mutation, payload.get("variables") or {}, roots
    return None, False, {}, ()


Match = Callable[[Request], bool]


def mutation(name: str | None = None, *, lock: bool | None = None) -> Match:
    """Mutations (named `name`); `lock` selects (True) or excludes (False) the apply lock."""

    def match(request: Request) -> bool:
        if not request.mutation or (name is not None and request.operation != name):
            return False
        return lock is None or request.lock == lock

    return match


def operation(name: str) -> Match:
    return lambda request: request.operation == name


def writes(field: str) -> Match:
    """Requests (single or batched) that carry the root mutation field `field`, not the lock's."""
    return lambda request: request.mutation and not request.lock and field in request.fields


@dataclass
class Rule:
    """What to do with the first `times` matching requests.

    action: "status" answers `status` without forwarding; "reset" closes without
    forwarding; "drop" forwards (the server commits) and closes without answering;
    "replace" forwards, then answers `status` instead of the server's answer;
    "hold" waits for `release` before forwarding; "before" calls `callback` with the
    request, then forwards; "after" forwards, calls `callback`, then answers.
    The first `skip` matching requests pass untouched.
    """

    match: Match
    action: str
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    skip: int = 0
    callback: Callable[[Request], None] | None = None
    release: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)
    seen: int = 0
    used: int = 0

    def take(self, request: Request) -> bool:
        if (self.times is not None and self.used >= self.times) or not self.match(request):
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.used += 1
        return True


class Proxy:
    """Forwards to `upstream`; the test adds rules and reads `requests`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.rules: list[Rule] = []
        self.requests: list[Request] = []
        self._guard = threading.Lock()
        # The loop's only: every accepted socket, and each connection's task and writer.
        self._sockets: list[socket.socket] = []
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter | None] = {}
        self._closing = False

    def add(self, rule: Rule) -> Rule:
        with self._guard:
            self.rules.append(rule)
        return rule

    def mutations(self, *, lock: bool | None = None) -> list[Request]:
        with self._guard:
            found = [r for r in self.requests if r.mutation]
        return [r for r in found if lock is None or r.lock == lock]

    def count(self, name: str) -> int:
        with self._guard:
            return sum(1 for r in self.requests if r.operation == name)

    def written(self, *, lock: bool | None = False) -> Counter[str]:
        """How many times each mutation field was sent, batched or not (not the lock's)."""
        return Counter(field for r in self.mutations(lock=lock) for field in r.fields)

    def clear(self) -> None:
        with self._guard:
            self.requests.clear()
            self.rules.clear()

    def _record(self, request: Request) -> Rule | None:
        with self._guard:
            self.requests.append(request)
            return next((rule for rule in self.rules if rule.take(request)), None)

    def accept(self, listener: socket.socket) -> None:
        """Accept what is waiting (the loop calls this when the listener is readable).

        Synchronous on purpose: every accepted socket is known before anything else runs,
        and once the loop stops calling this, nothing more is accepted.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = listener.accept()
            except ConnectionAbortedError:
                continue
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            self._sockets.append(conn)
            task = loop.create_task(self._connection(conn))
            self._open[task] = None
            task.add_done_callback(lambda done: self._open.pop(done, None))

    async def _connection(self, conn: socket.socket) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_HEAD)
        except OSError:
            return  # closed below, in close()
        self._open[task] = writer
        if self._closing:
            writer.close()
        await self.handle(reader, writer)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with httpx.AsyncClient(base_url=self.upstream, timeout=60.0) as client:
                while await self._one(client, reader, writer):
                    pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self, timeout: float) -> None:
        """Once the listener is closed: end every connection, cancelling nothing.

        Closing a client's socket ends its handler at its next read; a handler that is
        forwarding a request first gets the server's answer (the server is still up), so
        its upstream connection closes in order too. Cancelling handlers instead (or
        stopping the loop while a just-accepted connection had not started) left sockets
        unclosed: a ResourceWarning that errored whichever test ran next.
        """
        self._closing = True
        while self._open:
            for writer in self._open.values():
                if writer is not None:
                    writer.close()
            _, pending = await asyncio.wait(list(self._open), timeout=timeout)
            if pending:
                raise RuntimeError(f"{len(pending)} proxy connection(s) did not end")
        for conn in self._sockets:
            conn.close()  # already closed by its transport; this only makes sure

    async def _one(
        self, client: httpx.AsyncClient, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request of a keep-alive connection; False when the connection ends."""
        method, path, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        body = await reader.readexactly(min(int(headers.get("content-length", "0")), MAX_BODY))
        request = Request(method, path, *parse_graphql(body))
        self._mark_lock(request)
        rule = self._record(request)
        action = rule.action if rule is not None else "forward"
        if rule is not None:
            await _before(rule, request)
        if action in ("status", "reset"):
            request.outcome = action
            if action == "reset":
                return False
            assert rule is not None
            request.status = rule.status
            await _answer(writer, rule.status, rule.headers, FAULT_BODY)
            return True
        upstream = await client.request(method, path, content=body, headers=_forwarded(headers))
        request.status = upstream.status_code
        return await _after(rule, request, upstream, writer)

    def _mark_lock(self, request: Request) -> None:
        """Tag the apply lock's own requests, which carry their own operation names."""
        request.lock = request.mutation and request.operation in LOCK_OPERATIONS


async def _before(rule: Rule, request: Request) -> None:
    if rule.action == "hold":
        rule.reached.set()
        await asyncio.to_thread(rule.release.wait, HOLD_LIMIT)
    if rule.action == "before" and rule.callback is not None:
        await asyncio.to_thread(rule.callback, request)


async def _after(
    rule: Rule | None, request: Request, upstream: httpx.Response, writer: asyncio.StreamWriter
) -> bool:
    """Answer a forwarded request as the rule says; False when the connection is dropped."""
    if rule is not None and rule.action == "drop":
        request.outcome = "dropped"
        return False
    if rule is not None and rule.action == "replace":
        request.outcome = f"replaced by {rule.status}"
        await _answer(writer, rule.status, rule.headers, FAULT_BODY)
        return True
    if rule is not None and rule.action == "after" and rule.callback is not None:
        rule.callback(request)  # in the loop: nothing else moves until it returns
    await _answer(writer, upstream.status_code, dict(upstream.headers), upstream.content)
    return True


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    if len(head) > MAX_HEAD:
        raise ConnectionError("request head too large")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _forwarded(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in HOP_BY_HOP}


async def _answer(
    writer: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes
) -> None:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in HOP_BY_HOP]
    lines += ["content-type: application/json"] if "content-type" not in headers else []
    lines += [f"content-length: {len(body)}", "", ""]
    writer.write("\r\n".join(lines).encode("latin-1") + body)
    await writer.drain()


@contextmanager
def proxying(upstream: str, timeout: float = 10.0) -> Iterator[Proxy]:
    """Run a Proxy to `upstream` on its own event loop in a thread until the block ends.

    The loop runs under asyncio.run, so once the proxy has closed its listener and
    every connection has ended, the loop's executor and the loop itself close in order;
    anything that went wrong in the thread is raised here.
    """
    proxy = Proxy(upstream)
    started = threading.Event()
    failed: list[BaseException] = []
    control: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.setblocking(False)
            proxy.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            stop = asyncio.Event()
            control.append((loop, stop))
            loop.add_reader(listener.fileno(), proxy.accept, listener)
            started.set()
            await stop.wait()
            loop.remove_reader(listener.fileno())
        await proxy.close(timeout)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # handed to the test's thread below
            failed.append(error)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(timeout) or failed:
        raise RuntimeError("the proxy did not start") from (failed[0] if failed else None)
    try:
        yield proxy
    finally:
        for rule in proxy.rules:
            rule.release.set()
        loop, stop = control[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout * 3)
        if thread.is_alive():
            raise RuntimeError("the proxy did not stop")
        if failed:
            raise failed[0]
