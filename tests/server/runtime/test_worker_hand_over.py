"""The events API hands committed deliveries to the worker, which sends them unread.

A claim of the outbox and a hand-over can carry the same delivery; a copy read before
the delivery was settled is never sent again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from reconcile.runtime.sender import Limits
from reconcile.server.runtime import events, outbox
from reconcile.server.runtime.worker import Worker
from tests.server.helpers import World, basic
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    DRAIN_BOUND,
    alias_automation,
    alias_event,
    hook_with_secrets,
    statuses,
    worker,
)


class _Unclaiming(Worker):
    """A worker that never reads the outbox: all it sends is what it is handed."""

    def _claim(self) -> tuple[list[outbox.Due], set[str]]:
        return [], set()


def _ingest(world: World, event_id: str) -> list[outbox.Due]:
    service = world.client.app.state.service
    raw = json.dumps({"events": [alias_event(event_id)]}).encode()
    (status, body), queued = events.ingest(
        service.db, service.box, basic(world.admin.key)["Authorization"], raw, "https://wandb.ai"
    )
    assert status == 202, body
    return queued


async def _until(done: Callable[[], bool], timeout: float = DRAIN_BOUND) -> None:
    """Wait until `done()` holds; the bound is against a hang, not a deadline."""
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(done):
            await asyncio.sleep(0.02)


def test_a_handed_over_delivery_is_sent_without_reading_the_outbox(
    world: World, receiver: Receiver
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    service = world.client.app.state.service

    async def main() -> None:
        # A full-size deadline: this worker never claims, so an attempt timed out on a busy
        # machine would never be sent again.
        running = _Unclaiming(service.db, service.box, ("127.0.0.1",), limits=Limits())
        task = asyncio.ensure_future(running.run())
        await asyncio.sleep(0)  # the worker starts and knows its loop
        try:
            running.hand_over(await asyncio.to_thread(_ingest, world, "h1"))
            await _until(lambda: statuses(world) == {"promote": ["delivered"]})
        finally:
            running.stop()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert [r.body for r in receiver.requests] == [
        b'{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"token-canary-access-value-456"}'
    ]


def test_a_copy_read_before_its_delivery_was_settled_is_not_sent_again(
    world: World, receiver: Receiver
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))

    async def main() -> None:
        # One attempt at a time to the endpoint: what is queued is sent in order.
        running = worker(world, per_endpoint=1)
        task = asyncio.ensure_future(running.run())
        try:
            stale = await asyncio.to_thread(_ingest, world, "first")
            # Not handed over yet: the worker's own look at the outbox sends it first.
            await _until(lambda: statuses(world) == {"promote": ["delivered"]})
            running.hand_over(stale)  # the copy the events API was slow to hand over
            running.hand_over(await asyncio.to_thread(_ingest, world, "second"))
            await _until(lambda: statuses(world) == {"promote": ["delivered", "delivered"]})
        finally:
            running.stop()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2
    assert len(set(ids)) == 2


def test_a_stopped_worker_takes_nothing_over(world: World, receiver: Receiver) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))

    async def main() -> int:
        running = worker(world)
        task = asyncio.ensure_future(running.run())
        await asyncio.sleep(0)
        running.stop()
        running.hand_over(await asyncio.to_thread(_ingest, world, "late"))
        await asyncio.gather(task, return_exceptions=True)
        return len(running.tasks)

    assert asyncio.run(main()) == 0
    assert receiver.requests == []
    assert statuses(world) == {"promote": ["pending"]}  # the outbox keeps it
