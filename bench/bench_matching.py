"""Ingest + match per event: an entity with 1,000 automations beside one with 10,000.

Run: `.venv/bin/python bench/bench_matching.py [--events 300] [--rounds 5]`.

Both databases get the same `HOT` automations on the event's project and alias event
(one of them fires); the rest are in other projects and on other event types. Each
round sends `--events` new alias events through the events API's `ingest` (key check,
parse, match, event and outbox rows in one transaction) to each database in turn;
each side's best round is reported. Also the time of `matching.match` alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import World, alias_event, populate

from reconcile.runtime import incoming
from reconcile.server.runtime import events, matching
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database

SINK = "http://127.0.0.1:9/"  # never sent to: no worker runs here


def ingest_round(world: World, box: SecretBox, start: int, count: int) -> float:
    """Seconds per event for `count` new events through `ingest`."""
    began = time.perf_counter()
    for number in range(start, start + count):
        (status, body), queued = events.ingest(
            world.db, box, world.authorization, alias_event(number), "http://127.0.0.1"
        )
        assert status == 202, body
        assert len(queued) == 1, body
    return (time.perf_counter() - began) / count


def match_round(world: World, count: int) -> float:
    """Seconds per call of `matching.match` alone (rolled back: nothing kept)."""
    event = incoming.parse_document(incoming.loads(alias_event(0)))[0]
    with world.db.read() as con:
        project = teams.find_project(con, event.entity, event.project)
        assert project is not None
        collection = con.execute(
            "SELECT id FROM collections WHERE project_id = ? AND name = ?",
            (project.id, event.collection),
        ).fetchone()
        began = time.perf_counter()
        for _ in range(count):
            fired = matching.match(con, event, project.id, collection[0])
            assert len(fired) == 1
        return (time.perf_counter() - began) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs=2, default=(1_000, 10_000))
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        worlds: dict[int, tuple[World, SecretBox]] = {}
        for size in args.sizes:
            path = Path(tmp) / f"{size}.db"
            db = Database(path)
            worlds[size] = (populate(db, size, SINK), SecretBox(load_or_create_key(path)))
        ingest: dict[int, list[float]] = {size: [] for size in args.sizes}
        match: dict[int, list[float]] = {size: [] for size in args.sizes}
        for round_ in range(args.rounds):
            for size in args.sizes:
                world, box = worlds[size]
                start = 1 + round_ * args.events
                ingest[size].append(ingest_round(world, box, start, args.events))
                match[size].append(match_round(world, args.events))
        small, large = args.sizes
        head = ("automations", "ingest best", "median", "match best", "median")
        print("{:>12} {:>12} {:>9} {:>11} {:>9}".format(*head))
        for size in args.sizes:
            i, m = sorted(ingest[size]), sorted(match[size])
            print(
                f"{size:>12,} {i[0] * 1e3:>9.3f} ms {i[len(i) // 2] * 1e3:>6.3f} ms"
                f" {m[0] * 1e3:>8.3f} ms {m[len(m) // 2] * 1e3:>6.3f} ms"
            )
        mid = args.rounds // 2
        median_growth = sorted(ingest[large])[mid] / sorted(ingest[small])[mid]
        print(
            f"growth {small:,} -> {large:,}: ingest {min(ingest[large]) / min(ingest[small]):.2f}x"
            f" (best), {median_growth:.2f}x (median);"
            f" match {min(match[large]) / min(match[small]):.2f}x (best)"
        )
        for world, _ in worlds.values():
            world.db.close()
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
