"""The server's cost of storing one file_stream post in process: the SDK's final post of
`bench_runs.py` (10,000 history lines of 20 metrics, as the SDK writes them), from its
body's bytes to the commit, with no HTTP and no other process.

Run: `.venv/bin/python bench/bench_stream_post.py [--steps 10000] [--metrics 20]
[--rounds 5] [--watched] [--profile]`.
`--watched`: the automation reads `m0`, so every row gets its `run_logged` event (the
default reads `loss`, which the rows do not hold, as in `bench_runs.py`).
Prints CPU time (`process_time`: little moved by other processes) and wall time per
post, best and median; `--profile` adds a cProfile of one post.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import tempfile
import time
from pathlib import Path

from runtime_world import sdk_team

from reconcile.server.clients import runs, stream
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database


def body(steps: int, metrics: int) -> bytes:
    """The SDK's final post: its history lines (keys in no order, as wandb-core writes
    them; `_step`, `_runtime`, `_timestamp`), the summary, the end of the run."""
    shuffle = random.Random(7)
    lines = []
    for step in range(steps):
        row: dict[str, float] = {f"m{i}": (step * 31 + i) % 97 / 97 for i in range(metrics)}
        row |= {"_timestamp": 1.7965662058126988e09 + step, "_step": step, "_runtime": step / 9}
        keys = list(row)
        shuffle.shuffle(keys)
        lines.append(json.dumps({key: row[key] for key in keys}, separators=(",", ":")))
    summary = lines[-1]
    files = {
        stream.HISTORY: {"offset": 0, "content": lines},
        stream.SUMMARY: {"offset": 0, "content": [summary]},
    }
    return json.dumps({"files": files, "complete": True, "exitcode": 0}).encode()


def store(db: Database, box: SecretBox, user: teams.User, name: str, raw: bytes) -> int:
    """What the route does once the key is checked: the body parsed, the post applied in
    one write transaction. The deliveries queued."""
    parsed = json.loads(raw)
    with db.write() as con:
        return len(stream.apply(con, box, user, ("bench", "train", name), parsed))


def new_run(db: Database, box: SecretBox, user: teams.User, name: str) -> None:
    with db.write() as con:
        place = runs.writable_project(con, user, "bench", "train", create=True)
        runs.upsert(con, box, user, place, {"name": name})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watched", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    raw = body(args.steps, args.metrics)
    metric = "m0" if args.watched else "loss"
    threshold = {"name": metric, "window_size": 1, "cmp_op": "$gt", "threshold": 0.5}
    run_filter = {"run_filter": '{"$and":[]}', "metric_filter": None}
    run_filter["run_metric_filter"] = {"threshold_filter": threshold}
    print(f"load {os.getloadavg()}, post {len(raw)} bytes, automation reads {metric}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.db"
        automation = ("high", "RUN_METRIC", run_filter, '{"v": "${run_id}"}')
        sdk_team(path, "http://127.0.0.1:9/", automation)
        db = Database(path)
        box = SecretBox(load_or_create_key(path))
        with db.read() as con:
            user = teams.get_user(con, 1)
        cpu: list[float] = []
        wall: list[float] = []
        queued = 0
        for number in range(args.rounds):
            name = f"r{number}"
            new_run(db, box, user, name)
            start_cpu, start = time.process_time(), time.perf_counter()
            queued = store(db, box, user, name, raw)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start)
        print(
            f"store one post ({args.steps} lines, {queued} deliveries): CPU best "
            f"{min(cpu) * 1e3:.0f} ms median {statistics.median(cpu) * 1e3:.0f} ms, "
            f"wall best {min(wall) * 1e3:.0f} ms median {statistics.median(wall) * 1e3:.0f} ms"
        )
        if args.profile:
            new_run(db, box, user, "profiled")
            profile = cProfile.Profile()
            profile.runcall(store, db, box, user, "profiled", raw)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        db.close()


if __name__ == "__main__":
    main()
