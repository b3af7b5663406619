"""The worker stops when cancelled, even as a wake-up completes (the reported hang).

`drain` cancels the worker right after the last delivery settles, and settling sets
the wake-up event: on Python 3.11 `asyncio.wait_for` swallowed a cancellation that
arrived as its inner wait completed, so the worker kept running and the test waited
for it forever. Here the two are made to coincide on purpose, every run.
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
