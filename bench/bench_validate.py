"""Cold `reconcile validate` of 10,000 automations beside a cold bare CSafeLoader parse.

Run: .venv/bin/python bench/bench_validate.py [--rounds 5]

Both sides run the way a user runs them: each in a fresh process (interpreter start,
imports, reading the 100 files), timed from start to exit, the two interleaved round
by round with the order alternating. Then the same comparison in-process, with the
same heap for both sides (nothing held between calls, a collection before each).
Target: validate at most 1.5x the parse, cold.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fair import bare_parse_argv, cold, interleaved, load, ratios, spread
from inventory_gen import write_inventory

from reconcile.inventory.load import load_inventory

RECONCILE = str(Path(sys.executable).with_name("reconcile"))


def in_process(fn: object) -> float:
    assert callable(fn)
    gc.collect()
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def bare(paths: list[Path]) -> None:
    for path in paths:
        yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)
        paths = write_inventory(work / "automations")
        size = sum(p.stat().st_size for p in paths)
        check = cold([RECONCILE, "validate", "automations"], work)
        assert check.returncode == 0, check
        print(f"files: {len(paths)}, automations: 10,000, bytes: {size:,}")
        runs = interleaved(
            {
                "parse": lambda: cold(bare_parse_argv("automations"), work).seconds,
                "validate": lambda: cold([RECONCILE, "validate", "automations"], work).seconds,
            },
            args.rounds,
        )
        print(f"cold bare CSafeLoader parse (fresh process): {spread(runs['parse'])}")
        print(f"cold reconcile validate (fresh process):     {spread(runs['validate'])}")
        cold_ratio = ratios(runs["validate"], runs["parse"])
        print(f"cold ratio per round: {spread(cold_ratio, unit='x')} (target <= 1.5x)")
        warm = interleaved(
            {
                "parse": lambda: in_process(lambda: bare(paths)),
                "validate": lambda: in_process(lambda: load_inventory(["automations"])),
            },
            args.rounds,
        )
        print(f"in-process parse:    {spread(warm['parse'])}")
        print(f"in-process validate: {spread(warm['validate'])}")
        ratio = spread(ratios(warm["validate"], warm["parse"]), unit="x")
        print(f"in-process ratio per round: {ratio}")
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
