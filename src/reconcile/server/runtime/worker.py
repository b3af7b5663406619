"""The delivery worker: an asyncio loop that sends due outbox rows, per endpoint capped.

Each endpoint has its own cap on attempts in flight, so a hanging endpoint holds only
its own slots (R7). Failures are retried on `schedule.next_delay`; pending rows left
by a crash are simply due again after a restart, with the same bytes and id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import Mapping

from reconcile.runtime import schedule, signing
from reconcile.runtime.addresses import Policy
from reconcile.runtime.sender import Limits, Outcome, Sender
from reconcile.server.runtime import outbox
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database

log = logging.getLogger(__name__)

PER_ENDPOINT = 16  # attempts in flight to one endpoint at once
POLL = 0.2  # seconds between looks at the outbox when nothing wakes the worker
QUEUE_DEPTH = 4  # rows claimed per endpoint, in multiples of its cap


class Worker:
    """Sends the outbox of one database until stopped.

    The dispatcher claims due rows into a queue per endpoint; up to `per_endpoint`
    senders drain each queue, so a slow endpoint fills only its own queue and slots.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        allow: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        per_endpoint: int = PER_ENDPOINT,
    ) -> None:
        env = os.environ if env is None else env
        self.db, self.box = db, box
        self.sender = Sender(Policy.of(allow), Limits.scaled(env))
        self.scale = schedule.time_scale(env)
        self.per_endpoint = per_endpoint
        # Rows claimed and not yet settled, per endpoint: queued or being sent.
        self.in_flight: dict[str, set[int]] = {}
        self.queues: dict[str, deque[outbox.Due]] = {}
        self.senders: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the outbox now (safe from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

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
                claimed = await asyncio.to_thread(self._claim)
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

    def _claim(self) -> list[outbox.Due]:
        """Due rows for every endpoint with room in its queue."""
        at = time.time()
        claimed: list[outbox.Due] = []
        # On the writer's connection: it sees every settled attempt (a pooled reader's
        # snapshot may predate one, and a delivered row would be sent again).
        with self.db.write() as con:
            for endpoint in outbox.due_endpoints(con, at):
                busy = set(self.in_flight.get(endpoint, ()))
                room = QUEUE_DEPTH * self.per_endpoint - len(busy)
                if room > 0:
                    claimed += outbox.claim(con, self.box, endpoint, at=at, skip=busy, limit=room)
        return claimed

    def _queue(self, due: outbox.Due) -> None:
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
                if len(queue) < self.per_endpoint:
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
            await asyncio.to_thread(self._settle, due, started, outcome, stored, delay)
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

    def _settle(
        self,
        due: outbox.Due,
        started: float,
        outcome: Outcome,
        stored: list[tuple[str, str]],
        delay: float | None,
    ) -> None:
        with self.db.write() as con:
            status = outbox.settle(
                con, due, started, outcome=outcome, stored_headers=stored, delay=delay
            )
        log.info(
            "delivery attempt",
            extra={
                "delivery": due.id,
                "status": outcome.status,
                "error": outcome.error,
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
