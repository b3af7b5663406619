"""The worker stops when asked, even when a cancellation is lost (the reported hang).

A run of tests/server/runtime hung in `drain` (first R4 test, after R1): the stack dump
showed the main thread in `asyncio.run`, its loop idle, awaiting the cancelled worker.
On Python 3.11, `asyncio.wait_for` returns normally when the cancellation arrives as
its inner wait completes, and `drain` cancels the worker right after the last settle,
which sets the wake-up the worker waits on with `wait_for`. The worker now waits with
`asyncio.timeout` and also stops on a flag (`stop()`), so a lost cancellation cannot
keep it running: the second test holds with no cancellation at all.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.server.helpers import World
from tests.server.runtime.support import worker


def test_a_cancel_arriving_with_a_wake_up_stops_the_worker(world: World) -> None:
    async def main() -> bool:
        running = worker(world)
        task = asyncio.ensure_future(running.run())
        async with asyncio.timeout(10):
            # Until the worker waits for a wake-up (after its first look at the outbox).
            while not running._wake._waiters:
                await asyncio.sleep(0.01)
        running._wake.set()
        task.cancel()
        try:
            async with asyncio.timeout(5):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        except TimeoutError:
            # The cancellation was lost: cancel again (it lands elsewhere) to clean up.
            while not task.done():
                task.cancel()
                await asyncio.sleep(0.05)
            return False
        return task.cancelled()

    assert asyncio.run(main()) is True


def test_stop_ends_the_worker_without_a_cancellation(world: World) -> None:
    """What a swallowed cancellation leaves: only the flag; the worker still ends."""

    async def main() -> bool:
        running = worker(world)
        task = asyncio.ensure_future(running.run())
        await asyncio.sleep(0.05)
        running.stop()
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return bool(done)

    assert asyncio.run(main()) is True
