"""The delivery worker: an asyncio loop that sends due outbox rows, per endpoint capped.

Each endpoint has its own cap on attempts in flight, so a hanging endpoint holds only
its own slots (R7). Failures are retried on `schedule.next_delay`; pending rows left
by a crash are simply due again after a restart, with the same bytes and id.

New deliveries are handed over by the events API as soon as their transaction is
committed, so a first attempt waits for no read of the outbox; the outbox is still
what counts (a delivery handed over to a worker that has no room, or none running, is
claimed from it later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence

from reconcile.runtime import schedule, signing
from reconcile.runtime.addresses import Policy
from reconcile.runtime.sender import Limits, Outcome, Sender
from reconcile.server.runtime import backlog, outbox
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database

log = logging.getLogger(__name__)

PER_ENDPOINT = 16  # attempts in flight to one endpoint at once
POLL = 0.2  # seconds between looks at the outbox when nothing wakes the worker
QUEUE_DEPTH = 4  # rows claimed per endpoint, in multiples of its cap
SETTLED_MEMORY = 60.0  # seconds a settled delivery is remembered, against stale reads


class Worker:
    """Sends the outbox of one database until stopped.

    The dispatcher claims due rows into a queue per endpoint; up to `per_endpoint`
    senders drain each queue, so a slow endpoint fills only its own queue and slots.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        allow: tuple[str, ...] | Policy = (),
        env: Mapping[str, str] | None = None,
        per_endpoint: int = PER_ENDPOINT,
        *,
        limits: Limits | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.db, self.box = db, box
        policy = allow if isinstance(allow, Policy) else Policy.of(allow)
        # `limits` apart from the time scale: tests compress the schedule but keep a
        # full-size deadline, which a slow answer on a busy machine cannot miss.
        self.sender = Sender(policy, limits or Limits.scaled(env))
        self.scale = schedule.time_scale(env)
        self.per_endpoint = per_endpoint
        self.depth = QUEUE_DEPTH * per_endpoint  # rows queued or in flight per endpoint
        # Rows claimed and not yet settled, per endpoint: queued or being sent.
        self.in_flight: dict[str, set[int]] = {}
        self.queues: dict[str, deque[outbox.Due]] = {}
        self.senders: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Endpoints whose due rows may not all be claimed yet: a sender that frees room
        # for one of them looks at the outbox again at once (else at the next look).
        self._backlog: set[str] = set()
        # When each delivery was last settled here (monotonic clock), oldest first: a
        # claim read, or a hand-over, from before that moment is stale for it.
        self._settled: dict[int, float] = {}
        self._settled_order: deque[tuple[float, int]] = deque()
        # Finished attempts not yet recorded, each with the future its sender awaits.
        self._finished: list[tuple[outbox.Attempt, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # What it settled per second lately: the intake's bound on a team's due
        # deliveries, in seconds of sending (`backlog.Pace`).
        self.pace = backlog.Pace()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the outbox now (safe from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def hand_over(self, dues: Sequence[outbox.Due]) -> None:
        """Send these committed deliveries without reading them back (safe from any
        thread); one without room in its endpoint's queue is left for a claim."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._take_over(dues)
        else:
            loop.call_soon_threadsafe(self._take_over, dues)

    def _take_over(self, dues: Sequence[outbox.Due]) -> None:
        if self._stopping:  # the outbox keeps them for the next start
            return
        for due in dues:
            if len(self.in_flight.get(due.endpoint, ())) < self.depth:
                self._queue(due)
            else:  # no room: a claim takes it when there is
                self._backlog.add(due.endpoint)
                self._wake.set()

    def stop(self) -> None:
        """End `run` at its next look (call on the worker's loop).

        A flag as well as the caller's cancellation: on Python 3.11 `asyncio.wait_for`
        swallows a cancellation that arrives as what it waits for completes, and a
        worker that missed its cancellation would run on forever.
        """
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake.clear()
                self._forget_settled()
                claimed, self._backlog = await asyncio.to_thread(self._claim)
                for due in claimed:
                    self._queue(due)
                # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that
                # arrives as the wake-up completes (the last delivery settled sets it), and
                # the loop would never stop. `asyncio.timeout` lets the cancellation through.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL):
                        await self._wake.wait()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.sender.aclose()

    def _claim(self) -> tuple[list[outbox.Due], set[str]]:
        """Due rows for every endpoint with room in its queue; the endpoints that may
        have more due than fitted."""
        at = time.time()
        claimed: list[outbox.Due] = []
        backlog: set[str] = set()
        # On the writer's connection: it sees every settled attempt (a pooled reader's
        # snapshot may predate one, and a delivered row would be sent again).
        with self.db.write() as con:
            for endpoint in outbox.due_endpoints(con, at):
                busy = set(self.in_flight.get(endpoint, ()))
                room = self.depth - len(busy)
                got = []
                if room > 0:
                    got = outbox.claim(con, self.box, endpoint, at=at, skip=busy, limit=room)
                claimed += got
                if len(got) >= room:
                    backlog.add(endpoint)
        return claimed, backlog

    def _queue(self, due: outbox.Due) -> None:
        """Queue `due` unless it is in flight, or was settled since it was read (a claim
        and a hand-over of the same delivery can cross)."""
        if due.id in self.in_flight.get(due.endpoint, ()):
            return
        if self._settled.get(due.id, -1.0) >= due.read_at:
            return
        self.in_flight.setdefault(due.endpoint, set()).add(due.id)
        self.queues.setdefault(due.endpoint, deque()).append(due)
        if self.senders.get(due.endpoint, 0) < self.per_endpoint:
            self.senders[due.endpoint] = self.senders.get(due.endpoint, 0) + 1
            task = asyncio.ensure_future(self._send_queue(due.endpoint))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send_queue(self, endpoint: str) -> None:
        queue = self.queues[endpoint]
        try:
            while queue:
                await self._deliver(queue.popleft())
                if len(queue) < self.per_endpoint and endpoint in self._backlog:
                    self._wake.set()  # room again: claim more for this endpoint
        finally:
            self.senders[endpoint] -= 1

    async def _deliver(self, due: outbox.Due) -> None:
        try:
            started = time.time()
            headers = signing.headers(due.credentials, due.body, due.webhook_id, int(started))
            outcome = await self.sender.send(due.url, due.body, headers)
            delay = self._delay(due, started, outcome)
            stored = signing.storable(headers)
            await self._record(outbox.Attempt(due, started, outcome, stored, delay))
        except Exception:
            log.exception("delivery failed unexpectedly", extra={"delivery": due.id})
        finally:
            self.in_flight[due.endpoint].discard(due.id)

    def _delay(self, due: outbox.Due, started: float, outcome: Outcome) -> float | None:
        if outcome.ok or not outcome.retryable:
            return None
        elapsed = started - (due.first_at or started)
        return schedule.next_delay(
            due.attempts + 1, elapsed, outcome.retry_after, random.random(), self.scale
        )

    async def _record(self, attempt: outbox.Attempt) -> None:
        """Record `attempt`, together with every other attempt that finished meanwhile.

        One write transaction (and one commit to disk) per batch rather than per attempt:
        the single writer is shared with ingest, and commits one by one made attempts
        queue for it. An attempt counts as settled only once its batch is committed, so
        a crash before that sends it again, as before (at least once, same bytes).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finished.append((attempt, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.ensure_future(self._record_finished())
            self.tasks.add(self._recorder)
            self._recorder.add_done_callback(self.tasks.discard)
        await done

    async def _record_finished(self) -> None:
        while self._finished:
            batch, self._finished = self._finished, []
            try:
                await asyncio.to_thread(self._settle, [attempt for attempt, _ in batch])
            except Exception as error:  # not recorded: still pending, sent again later
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            except BaseException:  # cancelled: the worker is stopping
                for _, done in batch:
                    done.cancel()
                raise
            settled = time.monotonic()
            self.pace.note(len(batch), settled)
            loop = asyncio.get_running_loop()
            for attempt, done in batch:
                if attempt.delay is not None:  # look again when it is due
                    loop.call_later(attempt.delay, self._wake.set)
                self._settled[attempt.due.id] = settled
                self._settled_order.append((settled, attempt.due.id))
                if not done.done():
                    done.set_result(None)

    def _forget_settled(self) -> None:
        """Forget settlements older than any read still on its way (SETTLED_MEMORY)."""
        horizon = time.monotonic() - SETTLED_MEMORY
        order = self._settled_order
        while order and order[0][0] < horizon:
            at, delivery = order.popleft()
            if self._settled.get(delivery) == at:
                del self._settled[delivery]

    def _settle(self, attempts: list[outbox.Attempt]) -> None:
        with self.db.write() as con:
            results = outbox.settle_all(con, attempts)
        for attempt, status in zip(attempts, results, strict=True):
            log.info(
                "delivery attempt",
                extra={
                    "delivery": attempt.due.id,
                    # scheme, host and port: a URL's path and query may be a credential
                    "endpoint": attempt.due.endpoint,
                    "status": attempt.outcome.status,
                    "error": attempt.outcome.error,
                    "result": status,
                },
            )

    async def drain(self, timeout: float | None = None) -> int:
        """Run until no delivery is pending (or `timeout`); the number still pending."""
        runner = asyncio.ensure_future(self.run())
        try:
            async with asyncio.timeout(timeout):
                while await asyncio.to_thread(self._pending) > 0:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pass
        finally:
            self.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        return await asyncio.to_thread(self._pending)

    def _pending(self) -> int:
        with self.db.read() as con:
            return outbox.pending_count(con)
