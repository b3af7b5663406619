"""One team's small events while another team sends the largest batches the server
takes: the victim's latency alone and under the attack, in interleaved runs.

Run: `.venv/bin/python bench/bench_intake_fairness.py [--events 150] [--rate 10]
[--attackers 4] [--runs 2] [--src OTHER/src]`.

`reconcile serve` runs in its own process; the receiver (`loopback_sink.py`) in a
third. Team `bench` (the victim) has 10 automations, one of which fires on each of its
events; it sends `--events` single events, one per POST, `--rate` per second, each
in its own task, and notes when each 202 arrives and when its delivery reaches the
receiver (`time.monotonic()`, one clock for the machine). Team `attacker` (another
user, another key) sends, from a process of its own, `--attackers` streams of
batches of 1,000 events with 7.5 KB of metadata each (8 MB a request, under the
8 MiB cap), each stream posting its next batch as soon as the last is answered.
Runs alternate: alone, attacked, alone, attacked, ... `--src` runs the server from
another source tree (an older commit unpacked with `git archive`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import Served, Sink, alias_event, populate

from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database
from tests.server.helpers import basic

BATCH = 1000
METADATA = {f"key-{n:03d}": "m" * 60 for n in range(100)}  # ~7.5 KB of JSON


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return (
        f"p50 {cut[49] * 1e3:6.0f} ms  p99 {cut[98] * 1e3:6.0f} ms  max {ordered[-1] * 1e3:6.0f} ms"
    )


def attacker_team(db: Database) -> str:
    """Team `attacker` with its own admin and project; that admin's Authorization header."""
    admin.ensure_team(db, "attacker")
    admin.create_user(db, "mallory")
    admin.set_role(db, "attacker", "mallory", "admin")
    admin.ensure_project(db, "attacker", "vision")
    return basic(admin.create_api_key(db, "mallory"))["Authorization"]


def batch_template() -> bytes:
    """1,000 alias events of team attacker; `RRRRRRRR` in each id is the batch's number."""
    events = []
    for n in range(BATCH):
        event: dict[str, Any] = json.loads(alias_event(n))
        event.update(id=f"atk-RRRRRRRR-{n:04d}", entity="attacker")
        event["artifact"]["metadata"] = METADATA
        events.append(event)
    return json.dumps({"events": events}).encode()


def attack(url: str, authorization: str, streams: int, stop: Any, sent: Any) -> None:
    """In a process of its own: `streams` senders of full batches until `stop` is set."""
    template = batch_template()
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    counter = iter(range(10**8))

    async def stream(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            body = template.replace(b"RRRRRRRR", b"%08d" % next(counter))
            answer = await client.post("/api/v1/events", content=body)
            assert answer.status_code == 202, answer.text[:200]
            with sent.get_lock():
                sent.value += 1

    async def main() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            await asyncio.gather(*(stream(client) for _ in range(streams)))

    asyncio.run(main())


async def victim(
    url: str, authorization: str, first: int, count: int, rate: float
) -> tuple[dict[int, float], dict[int, float]]:
    """Events first..first+count-1 on a fixed schedule: when each was sent, and when
    its 202 came."""
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    sent: dict[int, float] = {}
    accepted: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:

        async def emit(number: int) -> None:
            sent[number] = time.monotonic()
            answer = await client.post("/api/v1/events", content=alias_event(number))
            assert answer.status_code == 202, answer.text
            accepted[number] = time.monotonic()

        tasks = []
        began = time.monotonic()
        for index in range(count):
            wait = began + index / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.ensure_future(emit(first + index)))
        await asyncio.gather(*tasks)
    return sent, accepted


def arrivals(sink: Sink, wanted: set[int]) -> dict[int, float]:
    arrived: dict[int, float] = {}
    deadline = time.monotonic() + 120
    while not wanted <= set(arrived) and time.monotonic() < deadline:
        for at, version in sink.arrivals():
            arrived.setdefault(int(str(version).rsplit(":v", 1)[-1]), at)
        time.sleep(0.2)
    return arrived


def one_run(
    args: argparse.Namespace, keys: tuple[str, str], url: str, sink: Sink, *, first: int,
    attacked: bool,
) -> str:  # fmt: skip
    stop, sent_batches = multiprocessing.Event(), multiprocessing.Value("i", 0)
    process = None
    if attacked:
        process = multiprocessing.Process(
            target=attack, args=(url, keys[1], args.attackers, stop, sent_batches)
        )
        process.start()
        time.sleep(3)  # the attack under way: its streams' batches queued
    began_batches, began = sent_batches.value, time.monotonic()
    sent, accepted = asyncio.run(victim(url, keys[0], first, args.events, args.rate))
    arrived = arrivals(sink, set(sent))
    took = time.monotonic() - began
    if process is not None:
        stop.set()
        process.join(120)
    answer = [accepted[n] - sent[n] for n in sent]
    delivery = [arrived[n] - sent[n] for n in sent if n in arrived]
    batches = sent_batches.value - began_batches
    label = f"attacked ({batches / took:.1f} batches/s stored)" if attacked else "alone"
    return (
        f"{label:34}  send -> 202: {percentiles(answer)}\n{'':34}  send -> delivery: "
        f"{percentiles(delivery)}  ({args.events - len(delivery)} missing)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--src", type=Path, help="run the server from this source tree")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        db = Database(path)
        world = populate(db, 10, sink.url)
        keys = (world.authorization, attacker_team(db))
        db.close()
        with Served(path, args.src) as served:
            first = 1
            for _ in range(args.runs):
                for attacked in (False, True):
                    shown = one_run(args, keys, served.url, sink, first=first, attacked=attacked)
                    print(shown, flush=True)
                    first += args.events
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
