"""From an event's send to its first delivery attempt, at a steady 200 events/s.

The load generator runs in this process (one event per request): for rates beyond a
few hundred a second, and batches, use `bench_intake_sweep.py` (separate generators).

Run: `.venv/bin/python bench/bench_event_latency.py [--rate 200] [--events 1000] [--nested 0]`.

`reconcile serve` runs in its own process (default logging) over a team with 10
automations, one of which fires on each event (with `--nested N`, N more candidates on
the event's project, filters nested three levels deep, none matching:
`bench_filters.py`); the receiver (`loopback_sink.py`) runs in a third process and
notes when each delivery arrives (`time.monotonic()`, one clock for the whole
machine). The benchmark sends `--events` events, one per POST, on a fixed schedule of
`--rate` per second; the latency of an event is its delivery's arrival at the
receiver minus the moment its POST was sent (so waiting to be accepted counts, and
the attempt's own HTTP hop). Beside it, in the same run: the same schedule of bare POSTs
straight to the receiver, from just before each is sent to its arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_filters import store_nested
from runtime_world import Sink, alias_event, free_port, populate

from reconcile.server.store.db import Database

ROOT = Path(__file__).resolve().parents[1]


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return (
        f"p50 {cut[49] * 1e3:6.1f} ms  p95 {cut[94] * 1e3:6.1f} ms"
        f"  p99 {cut[98] * 1e3:6.1f} ms  max {ordered[-1] * 1e3:6.1f} ms"
    )


def paced(count: int, rate: float, send: object) -> tuple[dict[int, float], float]:
    """Call `send(n)` for n in 1..count on a fixed schedule; its results, and the rate held."""
    assert callable(send)
    results: dict[int, float] = {}
    began = time.monotonic()
    for number in range(1, count + 1):
        wait = began + (number - 1) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        results[number] = send(number)
    return results, count / (time.monotonic() - began)


async def emit_paced(
    base: str, headers: dict[str, str], count: int, rate: float
) -> tuple[dict[int, float], float]:
    """POST events 1..count on a fixed schedule, each in its own task (a slow answer
    does not hold the next one back); when each 202 arrived, and the rate held."""
    accepted: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def emit(number: int) -> None:
            sent = time.monotonic()  # the clock starts at the send, not at the 202
            response = await client.post("/api/v1/events", content=alias_event(number))
            assert response.status_code == 202, response.text
            accepted[number] = sent

        tasks = []
        began = time.monotonic()
        for number in range(1, count + 1):
            wait = began + (number - 1) / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.ensure_future(emit(number)))
        held = count / (time.monotonic() - began)
        await asyncio.gather(*tasks)
    return accepted, held


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collect(sink: Sink, count: int) -> dict[int, float]:
    arrived: dict[int, float] = {}
    deadline = time.monotonic() + 60
    while len(arrived) < count and time.monotonic() < deadline:
        for at, version in sink.arrivals():
            arrived.setdefault(int(str(version).rsplit(":v", 1)[-1]), at)
        time.sleep(0.2)
    return arrived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument(
        "--nested", type=int, default=0, help="candidates with nested filters (none fires)"
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        db = Database(path)
        world = populate(db, 10, sink.url)
        store_nested(db, args.nested)
        db.close()
        port = free_port()
        serve = [sys.executable, "-m", "reconcile", "serve", "--db", str(path)]
        serve += ["--port", str(port), "--allow-delivery-to", "127.0.0.1"]
        server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            headers = {"Authorization": world.authorization, "Content-Type": "application/json"}
            # Not timed: the first event reads and compiles the scope's filters (fires nothing).
            warm = alias_event(0).replace(b'"prod"', b'"warm-up"')
            first = httpx.post(f"{base}/api/v1/events", content=warm, headers=headers, timeout=60)
            assert first.status_code == 202, first.text
            cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
            accepted, held = asyncio.run(emit_paced(base, headers, args.events, args.rate))
            arrived = collect(sink, args.events)
            last = max(arrived.values(), default=time.monotonic())
            server_cpu = (cpu_seconds(server.pid) - cpu_before) / (last - wall_before)
        finally:
            server.terminate()
            server.wait(10)

        with httpx.Client(timeout=30) as bare:

            def post(number: int) -> float:
                sent = time.monotonic()
                body = b'{"event": "ADD_ARTIFACT_ALIAS", "version": "b/v/d:v%d"}' % number
                assert bare.post(sink.url, content=body).status_code == 200
                return sent

            sent, bare_held = paced(args.events, args.rate, post)
        bare_arrived = collect(sink, args.events)

    missing = args.events - len(arrived)
    latency = [arrived[n] - accepted[n] for n in accepted if n in arrived]
    floor = [bare_arrived[n] - sent[n] for n in sent if n in bare_arrived]
    print(f"events: {args.events} at {held:.0f}/s held; {missing} without a delivery")
    print(f"server CPU while sending and delivering: {server_cpu:.0%} of one core")
    print(f"send -> first attempt arrives: {percentiles(latency)}")
    tenth = max(1, len(latency) // 10)
    worst = [max(latency[i : i + tenth]) * 1e3 for i in range(0, len(latency), tenth)]
    print("worst per tenth of the run (ms): " + " ".join(f"{w:.0f}" for w in worst))
    print(f"bare POST -> arrives ({bare_held:.0f}/s): {percentiles(floor)}")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
