"""The runtime's HTTP routes: `POST /api/v1/events`, `GET /api/v1/deliveries`, re-send.

Every route checks the key from its header before anything else (S9): a request
without a valid one is answered 401 with its body unread. The intake's queue is
bounded: past it, 429 (that user's share) or 503 (the whole queue) with Retry-After;
so is each team's delivery backlog (`backlog.py`: deliveries due and unsent, and how long
they have waited): past it, 503 for that team's events.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconcile.core import settings
from reconcile.runtime.incoming import IncomingEvent, InvalidEvents
from reconcile.server.api import auth
from reconcile.server.errors import ApiError, NotFound
from reconcile.server.runtime import backlog, events, history
from reconcile.server.runtime.outbox import Due
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database
from reconcile.server.store.teams import User

MAX_EVENTS_BYTES = 8 * 1024 * 1024
# A turn of the intake stores one key's waiting requests, whole, until they hold this
# many events (at least one request, however large: a request is stored whole or not
# at all). Documented in the README ("Events": fairness).
TURN_EVENTS = 100
# A body up to this size is parsed on the event loop (well under a millisecond); larger
# ones in a worker thread, one at a time: parsing holds the interpreter, and several
# large bodies parsed at once would slow every other request down together.
INLINE_PARSE_BYTES = 64 * 1024
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: any id beyond names no delivery
# Events waiting to be stored (queued, or in the turn being stored), over all users:
# past it a request is refused 503 with Retry-After rather than queued. Sized to well
# under a second of storing; `RECONCILE_EVENTS_QUEUE` changes it. One user may hold at
# most half of it (429 past that), so one client's flood leaves room for the others.
# A request is admitted whatever its size when its user has nothing waiting (the whole
# queue: when it is empty), so the largest allowed request always gets through.
QUEUE_EVENTS = 2_000
QUEUE_ENV = "RECONCILE_EVENTS_QUEUE"
# A request that has waited this long means the queue is not draining (the machine
# or the disk is slow): new requests are refused 503 until it moves again.
QUEUE_SECONDS = 1.0
RETRY_AFTER_MAX = 30


class Busy(Exception):
    """The intake is full: answer `status` (429 or 503) with Retry-After `seconds`."""

    def __init__(self, status: int, seconds: int, message: str) -> None:
        super().__init__(message)
        self.status, self.seconds, self.message = status, seconds, message


def queue_events(env: dict[str, str] | None = None) -> int:
    """The intake's bound in events (`RECONCILE_EVENTS_QUEUE`, else QUEUE_EVENTS)."""
    return settings.positive_int(QUEUE_ENV, QUEUE_EVENTS, env)


@dataclass(frozen=True)
class _Waiting:
    authorization: str | None
    batch: tuple[IncomingEvent, ...]
    answered: asyncio.Future[events.Answer]
    user_id: int
    since: float  # when it was queued (monotonic clock)


class Intake:
    """Parsed event requests stored by one writer, fairly: each key's user has a queue
    of its own, and the queues take turns (round-robin).

    A turn stores the turn's requests in one transaction and one commit (a burst from
    one client is absorbed at the cost of one commit per turn), each request in a
    savepoint of its own (`events.store_many`). A small request of one user waits for
    at most one turn of each other user with requests waiting, however many they send.

    Bounded (`QUEUE_EVENTS`): a request that would take the events waiting past the
    bound, or its user's past half of it, or that arrives while the oldest waiting
    request has waited `QUEUE_SECONDS`, is refused (`Busy`) instead of queued.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        app_url: str,
        wake: Callable[[Sequence[Due]], None],
        bound: int = QUEUE_EVENTS,
    ) -> None:
        self.db, self.box, self.app_url, self.wake = db, box, app_url, wake
        self.bound, self.user_bound = bound, max(1, bound // 2)
        # Events queued or being stored, in all and per user; events stored per second
        # by the last turn (for Retry-After).
        self.waiting = 0
        self._waiting_by_user: dict[int, int] = {}
        self._rate = 0.0
        # Insertion order is the round. The queue whose turn it is leaves it while its
        # turn is stored, and goes to the back once done if it holds more: whoever
        # arrived meanwhile goes first.
        self._queues: dict[int, deque[_Waiting]] = {}
        self._serving: tuple[int, deque[_Waiting]] | None = None
        self._storing: asyncio.Task[None] | None = None

    async def submit(
        self, user: User, authorization: str | None, parsed: tuple[IncomingEvent, ...]
    ) -> events.Answer:
        self.admit(user.id, len(parsed))
        answered: asyncio.Future[events.Answer] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(authorization, parsed, answered, user.id, time.monotonic())
        self.waiting += len(parsed)
        self._waiting_by_user[user.id] = self._waiting_by_user.get(user.id, 0) + len(parsed)
        if self._serving is not None and self._serving[0] == user.id:
            self._serving[1].append(waiting)
        else:
            self._queues.setdefault(user.id, deque()).append(waiting)
        if self._storing is None or self._storing.done():
            self._storing = asyncio.ensure_future(self._store())
        return await answered

    def admit(self, user_id: int, count: int) -> None:
        """Raise `Busy` unless `count` more events of this user fit in the queue."""
        mine = self._waiting_by_user.get(user_id, 0)
        if mine and mine + count > self.user_bound:
            message = f"too many events waiting to be stored for this key ({mine:,})"
            raise Busy(429, self._retry_after(mine), message)
        if self.waiting and (self.waiting + count > self.bound or self._oldest() > QUEUE_SECONDS):
            message = f"the server is storing other events ({self.waiting:,} waiting)"
            raise Busy(503, self._retry_after(self.waiting), message)

    def _oldest(self) -> float:
        """How long the oldest request still queued (not in a turn) has waited."""
        heads = [queue[0].since for queue in self._queues.values() if queue]
        if self._serving is not None and self._serving[1]:
            heads.append(self._serving[1][0].since)
        return time.monotonic() - min(heads) if heads else 0.0

    def _retry_after(self, events_ahead: int) -> int:
        """Whole seconds for `events_ahead` to be stored at the last turn's rate."""
        if self._rate <= 0:
            return 1
        return max(1, min(RETRY_AFTER_MAX, math.ceil(events_ahead / self._rate)))

    def _release(self, turn: list[_Waiting], seconds: float) -> None:
        stored = 0
        for waiting in turn:
            count = len(waiting.batch)
            stored += count
            left = self._waiting_by_user[waiting.user_id] - count
            if left:
                self._waiting_by_user[waiting.user_id] = left
            else:
                del self._waiting_by_user[waiting.user_id]
        self.waiting -= stored
        if seconds > 0:
            self._rate = stored / seconds

    def next_turn(self) -> list[_Waiting]:
        """The requests of the next user's turn, taken from its queue."""
        user_id = next(iter(self._queues))
        queue = self._queues.pop(user_id)
        self._serving = (user_id, queue)
        turn = [queue.popleft()]
        count = len(turn[0].batch)
        while queue and count + len(queue[0].batch) <= TURN_EVENTS:
            count += len(queue[0].batch)
            turn.append(queue.popleft())
        return turn

    def _turn_done(self) -> None:
        if self._serving is not None and self._serving[1]:
            self._queues[self._serving[0]] = self._serving[1]
        self._serving = None

    async def _store(self) -> None:
        while self._queues:
            turn = self.next_turn()
            began = time.monotonic()
            try:
                await self._store_turn(turn)
            finally:
                self._release(turn, time.monotonic() - began)
                self._turn_done()

    async def _store_turn(self, turn: list[_Waiting]) -> None:
        requests = [(waiting.authorization, waiting.batch) for waiting in turn]
        try:
            results = await run_in_threadpool(
                events.store_many, self.db, self.box, requests, self.app_url
            )
        except Exception as error:  # a bug: these requests fail, later ones go on
            for waiting in turn:
                if not waiting.answered.done():
                    waiting.answered.set_exception(error)
            return
        except BaseException:  # cancelled at shutdown
            for waiting in turn:
                waiting.answered.cancel()
            raise
        queued = [due for _, dues in results for due in dues]
        if queued:
            self.wake(queued)
        for waiting, (answer, _) in zip(turn, results, strict=True):
            if not waiting.answered.done():
                waiting.answered.set_result(answer)


def authenticate(db: Database, authorization: str | None) -> User:
    """The caller, from the header alone: on the event loop, before any body byte is
    read (one indexed read on a connection of the read pool, which waits for no lock)."""
    auth.key_from_header(authorization)  # a malformed header needs no database
    with db.read() as con:
        return auth.authenticate(con, authorization)


def check_backlog(
    db: Database,
    parsed: tuple[IncomingEvent, ...],
    limit: int,
    lag: float = backlog.LAG_SECONDS,
    rate: float | None = None,
) -> None:
    """Raise `Busy` (503) when a team the events are for has more than `limit`
    deliveries due and not yet sent, more than a few due for over `lag` seconds, or
    more due than the worker sends in `lag` seconds at its busy `rate`: its deliveries
    are not keeping up, and more events would only queue further behind them. Other
    teams' events go on."""
    with db.read() as con:
        teams = (event.entity for event in parsed)
        late = backlog.behind(con, teams, limit, late=lag, rate=rate)
    if late is not None:
        raise Busy(503, backlog.RETRY_AFTER, late.message())


def routes(
    db: Database,
    box: SecretBox,
    wake: Callable[[Sequence[Due]], None],
    read_body: Callable[[Request, int], Any],
    app_url: str = "https://wandb.ai",
    *,
    pace: Callable[[], float | None] = lambda: None,
) -> list[Route]:
    """The routes, over the service's database; `wake` tells the worker work is queued
    (and hands it what it can send at once); `pace` is the worker's busy send rate."""
    intake = Intake(db, box, app_url, wake, queue_events())
    behind_limit, behind_lag = backlog.bound(), backlog.lag()
    large_parse = asyncio.Semaphore(1)

    async def prepare(raw: bytes) -> tuple[IncomingEvent, ...]:
        """The body parsed and checked, before the shared writer (not in it)."""
        if len(raw) <= INLINE_PARSE_BYTES:
            return events.prepare(raw)
        async with large_parse:
            return await run_in_threadpool(events.prepare, raw)

    async def post_events(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            user = authenticate(db, authorization)
        except ApiError as error:
            return _refused(error)
        try:
            raw = await read_body(request, MAX_EVENTS_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to answer
        except Exception:  # too large
            return JSONResponse(
                events.error_body(f"request body larger than {MAX_EVENTS_BYTES} bytes"), 413
            )
        try:
            parsed = await prepare(raw)
        except InvalidEvents as invalid:
            status, body = events.invalid_answer(invalid)
        else:
            try:
                check_backlog(db, parsed, behind_limit, behind_lag, pace())
                status, body = await intake.submit(user, authorization, parsed)
            except Busy as busy:
                headers = {"Retry-After": str(busy.seconds)}
                return JSONResponse(events.error_body(busy.message), busy.status, headers)
        return JSONResponse(body, status)

    async def get_deliveries(request: Request) -> Response:
        params = dict(request.query_params)
        authorization = request.headers.get("authorization")
        try:
            authenticate(db, authorization)
            page = await run_in_threadpool(history.query, db, authorization, params)
        except ApiError as error:
            return _refused(error)
        return JSONResponse({"deliveries": page.deliveries, "next": page.next})

    async def post_resend(request: Request) -> Response:
        number = request.path_params["number"]
        authorization = request.headers.get("authorization")
        try:
            authenticate(db, authorization)
            if number > MAX_ROW_ID:
                raise NotFound(f"delivery {number} not found")
            was = await run_in_threadpool(history.resend, db, authorization, number)
        except ApiError as error:
            return _refused(error)
        wake(())
        return JSONResponse({"delivery": number, "status": "pending", "was": was}, 202)

    return [
        Route("/api/v1/events", post_events, methods=["POST"]),
        Route("/api/v1/deliveries", get_deliveries, methods=["GET"]),
        Route("/api/v1/deliveries/{number:int}/resend", post_resend, methods=["POST"]),
    ]


def _refused(error: ApiError) -> Response:
    body = events.error_body(error.message, code=error.code)
    return JSONResponse(body, events.rest_status(error))
