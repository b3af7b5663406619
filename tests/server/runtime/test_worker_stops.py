"""The worker stops when asked, even when a cancellation is lost (the reported hang).

A run of tests/server/runtime hung in `drain` (first R4 test, after R1): the stack dump
showed the main thread idle in `drain`'s event loop; its only unbounded wait is for the
cancelled worker to end.
On Python 3.11, `asyncio.wait_for` returns normally when the cancellation arrives as
its inner wait completes, and `drain` cancels the worker right after the last settle,
which sets the wake-up the worker waits on with `wait_for`. The worker now waits with
`asyncio.timeout` and also stops on a flag (`stop()`), so a lost cancellation cannot
keep it running: the test holds with no cancellation at all.
"""

from __future__ import annotations

import asyncio

from tests.server.helpers import World
from tests.server.runtime.support import worker


def test_stop_ends_the_worker_without_a_cancellation(world: World) -> None:
    """What a swallowed cancellation leaves: only the flag; the worker still ends."""

    async def main() -> bool:
        running = worker(world)
        task = asyncio.ensure_future(running.run())
        await asyncio.sleep(0.05)
        running.stop()
        done, _ = await asyncio.wait({task}, timeout=60)  # a bound against a hang
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return bool(done)

    assert asyncio.run(main()) is True
