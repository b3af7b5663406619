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
from collections.abc import Mapping

from reconcile.runtime import schedule, signing
from reconcile.runtime.addresses import Policy
from reconcile.runtime.sender import Limits, Outcome, Sender
from reconcile.server.crypto import SecretBox
from reconcile.server.db import Database
from reconcile.server.runtime import outbox

log = logging.getLogger(__name__)

PER_ENDPOINT = 16  # attempts in flight to one endpoint at once
POLL = 0.5  # seconds between looks at the outbox when nothing wakes the worker


class Worker:
    """Sends the outbox of one database until stopped."""

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
        self.in_flight: dict[str, set[int]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the outbox now (safe from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                wait = await asyncio.to_thread(self._dispatch)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.sender.aclose()

    def _dispatch(self) -> float:
        """Start every due delivery an endpoint has room for; seconds until the next look."""
        at = time.time()
        with self.db.read() as con:
            batches = []
            for endpoint in outbox.due_endpoints(con, at):
                busy = self.in_flight.setdefault(endpoint, set())
                room = self.per_endpoint - len(busy)
                if room > 0:
                    batches += outbox.claim(con, self.box, endpoint, at=at, skip=busy, limit=room)
            row = con.execute(
                "SELECT MIN(next_at) FROM deliveries WHERE status = ?", (outbox.PENDING,)
            ).fetchone()
        for due in batches:
            self.in_flight[due.endpoint].add(due.id)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._start, due)
        upcoming = row[0] if row and row[0] is not None else at + POLL
        return max(0.001, min(POLL, upcoming - time.time()))

    def _start(self, due: outbox.Due) -> None:
        task = asyncio.ensure_future(self._deliver(due))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
            self._wake.set()

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
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        return await asyncio.to_thread(self._pending)

    def _pending(self) -> int:
        with self.db.read() as con:
            return outbox.pending_count(con)
