"""One load generator process for `bench_intake_sweep.py`: open-loop batches of events.

`python bench/loadgen.py URL AUTHORIZATION RATE SECONDS BATCH FIRST OUT`: POSTs batches
of BATCH alias events (numbered from FIRST) to URL's events API on a fixed schedule of
RATE events per second for SECONDS, each batch in its own task (a slow answer holds no
other back); writes to OUT, as JSON, each batch's first number, send time and answer
(`time.monotonic()`, the machine's one clock), and this process's CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import alias_batch


async def run(
    url: str, authorization: str, plan: tuple[float, float, int, int]
) -> list[list[object]]:
    """Send on the schedule `plan` (rate, seconds, batch, first number); every batch's row."""
    rate, seconds, batch, first = plan
    sent: list[list[object]] = []
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def post(number: int, body: bytes) -> None:
            at = time.monotonic()
            try:
                response = await client.post("/api/v1/events", content=body)
                status, retry = response.status_code, response.headers.get("retry-after")
            except httpx.HTTPError as error:
                status, retry = 0, type(error).__name__
            sent.append([number, at, status, retry, time.monotonic()])

        batches = int(rate * seconds) // batch
        bodies = [alias_batch(first + i * batch, batch) for i in range(batches)]
        tasks = []
        began = time.monotonic()
        for index, body in enumerate(bodies):
            wait = began + index * batch / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.ensure_future(post(first + index * batch, body)))
        await asyncio.gather(*tasks)
    return sent


def main() -> None:
    url, authorization, rate, seconds, batch, first, out = sys.argv[1:8]
    plan = (float(rate), float(seconds), int(batch), int(first))
    sent = asyncio.run(run(url, authorization, plan))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(out).write_text(json.dumps({"sent": sent, "cpu": usage.ru_utime + usage.ru_stime}))


if __name__ == "__main__":
    main()
