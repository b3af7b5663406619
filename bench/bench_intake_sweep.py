"""Events intake under a saturation sweep: send -> first attempt, sustained rate, 429/503.

Run: `.venv/bin/python bench/bench_intake_sweep.py [--rates 200,400,800,1600] [--seconds 10]`

`reconcile serve` (its own process, default logging) over a team whose event project
has 10 automations, one of which fires on each event (one delivery per event); the
receiver (`loopback_sink.py`) in another process notes each delivery's arrival
(`time.monotonic()`, one clock for the machine). For each rate, `--generators` load
generator processes (`loadgen.py`) together POST batches of `--batch` events on a fixed
open-loop schedule for `--seconds`. Latency of an event: its delivery's arrival at the
receiver minus the moment its batch was sent. Sustained rate: events delivered per
second from the first send to the last arrival. Refused batches (429/503) are counted,
with their Retry-After. The CPU of the server, the receiver and the generators is read
from `/proc` and `getrusage`, as a share of one core over the run.
Target: 2,000 events/s sustained with p99 under 100 ms; past what it sustains, 429 or
503 with Retry-After, never a multi-second queue or a crash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fair import cpu_seconds, load, percentile
from runtime_world import Served, Sink, populate

from reconcile.server.store.db import Database

HERE = Path(__file__).resolve().parent


def collect(sink: Sink, expected: int, quiet: float = 3.0) -> dict[int, float]:
    """Arrivals by event number, until `expected` arrived or none came for `quiet` s."""
    arrived: dict[int, float] = {}
    last = time.monotonic()
    while len(arrived) < expected and time.monotonic() - last < quiet:
        got = sink.arrivals()
        for at, version in got:
            arrived.setdefault(int(str(version).rsplit(":v", 1)[-1]), at)
        if got:
            last = time.monotonic()
        time.sleep(0.2)
    return arrived


@dataclass(frozen=True)
class Rig:
    """The processes of a sweep: the server, the receiver; the key and a scratch folder."""

    served: Served
    sink: Sink
    authorization: str
    tmp: Path


def generate(args: argparse.Namespace, rig: Rig, rate: float, first: int) -> list[Path]:
    """Run the generators for one rate (events numbered from `first`); their outputs."""
    per = rate / args.generators
    span = int(per * args.seconds) // args.batch * args.batch
    outs = [rig.tmp / f"gen-{rate:.0f}-{g}.json" for g in range(args.generators)]
    generators = [
        subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), rig.served.url,
                          rig.authorization, str(per), str(args.seconds), str(args.batch),
                          str(first + g * span), str(out)])
        for g, out in enumerate(outs)
    ]  # fmt: skip
    for generator in generators:
        generator.wait(args.seconds * 10 + 120)
    return outs


def one_rate(args: argparse.Namespace, rig: Rig, rate: float, first: int) -> int:
    """Offer `rate` events/s, report; the next free event number."""
    server, sink = rig.served.process.pid, rig.sink.process.pid
    server_cpu, sink_cpu, began = cpu_seconds(server), cpu_seconds(sink), time.monotonic()
    results = [json.loads(out.read_text()) for out in generate(args, rig, rate, first)]
    sent = [row for result in results for row in result["sent"]]
    accepted = [row for row in sent if row[2] == 202]
    arrived = collect(rig.sink, len(accepted) * args.batch)
    ended = max(arrived.values(), default=time.monotonic())
    wall = ended - began
    cpu = {
        "server": cpu_seconds(server) - server_cpu,
        "receiver": cpu_seconds(sink) - sink_cpu,
        f"{args.generators} generators together": sum(result["cpu"] for result in results),
    }
    batch = args.batch
    latency = [
        arrived[row[0] + i] - row[1]
        for row in accepted
        for i in range(batch)
        if row[0] + i in arrived
    ]
    statuses = Counter(row[2] for row in sent)
    answers = [row[4] - row[1] for row in sent]
    delivered = len(latency)
    refusals = sorted({str(r[3]) for r in sent if r[2] in {429, 503}})
    print(f"{rate:>6.0f}/s offered: {len(sent) * batch:,} events in {len(sent)} batches; answers "
          + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))  # fmt: skip
    rate_held = delivered / (ended - min(row[1] for row in sent))
    print(f"        delivered {delivered:,} ({len(accepted) * batch - delivered} accepted, not "
          f"arrived); sustained {rate_held:,.0f} events/s")  # fmt: skip
    if latency:
        print(f"        send -> first attempt: {_cuts(latency)}")
    print(f"        answer time: {_cuts(answers)}; Retry-After of refusals: {refusals}")
    shares = ", ".join(f"{name} {used / wall:.0%}" for name, used in cpu.items())
    per_event = cpu["server"] / max(1, delivered) * 1e3
    print(
        f"        CPU (share of one core): {shares}; server {per_event:.2f} ms per event delivered"
    )
    print(f"        {load()}")
    return first + len(sent) * batch + args.generators * batch


def _cuts(values: list[float]) -> str:
    p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(values) * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="200,400,800,1600")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--generators", type=int, default=2)
    args = parser.parse_args()
    print(f"start: {load()}")
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        db = Database(path)
        world = populate(db, 10, sink.url)
        db.close()
        with Served(path) as served:
            rig = Rig(served, sink, world.authorization, Path(tmp))
            first = 1
            for rate in (float(r) for r in args.rates.split(",")):
                first = one_rate(args, rig, rate, first)
                alive = served.process.poll() is None
                if not alive:
                    print("        the server exited")
                    break
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
