"""Validate 10,000 automations in 100 files, side by side with a bare CSafeLoader parse.

Run: .venv/bin/python bench/bench_validate.py [--rounds 3]
The target (issue: inventory) is validate <= 2x the bare parse of the same files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inventory_gen import write_inventory

from reconcile.inventory.load import load_inventory


def bare_parse(paths: list[Path]) -> None:
    for path in paths:
        yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        paths = write_inventory(Path(tmp, "automations"))
        size = sum(p.stat().st_size for p in paths)
        inventory = load_inventory(["automations"])
        assert len(inventory.automations) == 10_000
        bare = timed(lambda: bare_parse(paths), args.rounds)
        full = timed(lambda: load_inventory(["automations"]), args.rounds)
    print(f"files: {len(paths)}, automations: 10,000, bytes: {size:,}")
    print(_row("bare yaml.load(CSafeLoader)", bare))
    print(_row("reconcile validate", full))
    best = min(full) / min(bare)
    median = statistics.median(full) / statistics.median(bare)
    print(f"ratio: best {best:.2f}x, median {median:.2f}x (target <= 2.00x)")


def _row(label: str, times: list[float]) -> str:
    runs = ", ".join(f"{t:.3f}" for t in times)
    return f"{label:<28} best {min(times):.3f} s, median {statistics.median(times):.3f} s ({runs})"


if __name__ == "__main__":
    main()
