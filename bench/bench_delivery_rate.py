"""Deliveries per second: the worker against a bare httpx loop, to the same receiver.

Run: `.venv/bin/python bench/bench_delivery_rate.py [--deliveries 1000] [--rounds 3]`.

The receiver (`loopback_sink.py`) runs in its own process on 127.0.0.1 and answers
200. Each round first queues `--deliveries` deliveries (events through the events API,
one automation firing per event; not timed), then times the worker (`Worker.drain`:
claim, sign, send, settle each attempt in SQLite) until none is pending, then times a
bare `httpx.AsyncClient` sending the same number of POSTs of the same body and headers,
`--concurrency` at a time (the worker's cap per endpoint), and once more one at a time.
Each side's CPU time per delivery (this process's, from `time.process_time`) is printed
beside its rate: on a shared machine it moves much less than the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import Sink, alias_batch, populate

from reconcile.runtime import signing
from reconcile.server.runtime import events
from reconcile.server.runtime.worker import PER_ENDPOINT, Worker
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database

BATCH = 100
# CPU seconds per delivery of each side, per round (this process: the worker's threads
# included; the receiver is a process of its own).
CPU: dict[str, list[float]] = {"worker": [], "bare": [], "bare1": []}
# The size and shape of the bodies the worker sends (runtime_world.PAYLOAD, rendered).
BODY = b'{"event": "ADD_ARTIFACT_ALIAS", "alias": "prod", "version": "bench/vision/detector:v1"}'


def queue(world_db: Database, box: SecretBox, authorization: str, start: int, count: int) -> None:
    for first in range(start, start + count, BATCH):
        size = min(BATCH, start + count - first)
        (status, body), queued = events.ingest(
            world_db, box, authorization, alias_batch(first, size), "http://127.0.0.1"
        )
        assert status == 202, body
        assert len(queued) == size, (len(queued), size)


async def worker_round(db: Database, box: SecretBox, count: int) -> float:
    worker = Worker(db, box, ("127.0.0.1",))
    began, cpu = time.perf_counter(), time.process_time()
    left = await worker.drain(timeout=300)
    took = time.perf_counter() - began
    assert left == 0, f"{left} deliveries still pending"
    CPU["worker"].append((time.process_time() - cpu) / count)
    return count / took


async def bare_round(url: str, body: bytes, count: int, concurrency: int) -> float:
    headers = signing.headers(signing.Credentials(), body, "msg_bench", int(time.time()))
    sent = 0

    async def loop(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < count:
            sent += 1
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == 200

    began, cpu = time.perf_counter(), time.process_time()
    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(loop(client) for _ in range(concurrency)))
    CPU["bare" if concurrency > 1 else "bare1"].append((time.process_time() - cpu) / count)
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=PER_ENDPOINT)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    rates: dict[str, list[float]] = {"worker": [], "bare": [], "bare1": []}
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        db = Database(path)
        world = populate(db, 10, sink.url)
        box = SecretBox(load_or_create_key(path))
        for round_ in range(args.rounds):
            queue(db, box, world.authorization, 1 + round_ * args.deliveries, args.deliveries)
            rates["worker"].append(asyncio.run(worker_round(db, box, args.deliveries)))
            arrived = sink.arrivals()
            assert len(arrived) == args.deliveries, len(arrived)
            rates["bare"].append(
                asyncio.run(bare_round(sink.url, BODY, args.deliveries, args.concurrency))
            )
            rates["bare1"].append(asyncio.run(bare_round(sink.url, BODY, args.deliveries, 1)))
            sink.arrivals()
            print(
                f"round {round_ + 1}: worker {rates['worker'][-1]:.0f}/s,"
                f" bare x{args.concurrency} {rates['bare'][-1]:.0f}/s,"
                f" bare x1 {rates['bare1'][-1]:.0f}/s; CPU per delivery:"
                + ", ".join(f" {name} {CPU[name][-1] * 1e3:.2f} ms" for name in CPU)
            )
        db.close()
    best = {name: max(values) for name, values in rates.items()}
    print(
        f"best: worker {best['worker']:.0f}/s, bare x{args.concurrency} {best['bare']:.0f}/s"
        f" ({best['worker'] / best['bare']:.2f}x), bare x1 {best['bare1']:.0f}/s"
        f" ({best['worker'] / best['bare1']:.2f}x)"
    )
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
