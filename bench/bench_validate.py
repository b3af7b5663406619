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


def in_process(fn: object, cpu: list[float]) -> float:
    """Wall time of `fn()` after a collection; its CPU time goes to `cpu`."""
    assert callable(fn)
    gc.collect()
    began, cpu_began = time.perf_counter(), time.process_time()
    fn()
    cpu.append(time.process_time() - cpu_began)
    return time.perf_counter() - began


def run_cold(argv: list[str], work: Path, cpu: list[float]) -> float:
    """Wall time of `argv` in a fresh process; its CPU time goes to `cpu`."""
    done = cold(argv, work)
    assert done.returncode == 0, done
    cpu.append(done.cpu)
    return done.seconds


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
        cpu: dict[str, list[float]] = {"parse": [], "validate": []}
        runs = interleaved(
            {
                "parse": lambda: run_cold(bare_parse_argv("automations"), work, cpu["parse"]),
                "validate": lambda: run_cold(
                    [RECONCILE, "validate", "automations"], work, cpu["validate"]
                ),
            },
            args.rounds,
        )
        report("cold (fresh process)", runs, cpu)
        cpu = {"parse": [], "validate": []}
        warm = interleaved(
            {
                "parse": lambda: in_process(lambda: bare(paths), cpu["parse"]),
                "validate": lambda: in_process(
                    lambda: load_inventory(["automations"]), cpu["validate"]
                ),
            },
            args.rounds,
        )
        report("in-process, same heap", warm, cpu)
    print(f"end: {load()}")


def report(label: str, wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    print(f"{label}: wall min / median / max, then CPU")
    for side in ("parse", "validate"):
        print(f"  {side:<9} {spread(wall[side])}; CPU {spread(cpu[side])}")
    print(f"  ratio per round, wall: {spread(ratios(wall['validate'], wall['parse']), unit='x')}")
    print(f"  ratio per round, CPU:  {spread(ratios(cpu['validate'], cpu['parse']), unit='x')}")


if __name__ == "__main__":
    main()
