"""A no-op plan of 10,000 automations and 100 webhooks over HTTP, beside a bare parse.

Run: .venv/bin/python bench/bench_plan.py [--rounds 3]
Targets (the reconciler issue): plan <= 4x a bare CSafeLoader parse of the same files;
read requests <= ceil(N/100) + a constant; peak RSS of the plan process < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inventory_gen import write_inventory  # noqa: E402

from reconcile.apply import session  # noqa: E402
from reconcile.apply.target import Target, embedded_key  # noqa: E402
from reconcile.inventory.load import load_inventory  # noqa: E402
from tests.server.live import running  # noqa: E402

PROBE = """
import asyncio, json, resource, sys, time
start = time.perf_counter()
from reconcile.apply import session
from reconcile.client.reader import Reader
from reconcile.inventory.load import load_inventory
from reconcile.apply.target import Target, connect
async def main():
    inventory = load_inventory(["automations"])
    target = Target(sys.argv[1], api_key=sys.argv[2])
    async with connect(target) as transport:
        planned = await session.make_plan(inventory, target, Reader(transport))
        return planned, transport.requests
planned, requests = asyncio.run(main())
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "requests": requests,
    "changes": len(planned.plan.changes),
    "automations": len(planned.inventory.automations),
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def bare_parse(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    return time.perf_counter() - start


def probe(url: str, key: str, cwd: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, key],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)
        paths = write_inventory(work / "automations")
        inventory = load_inventory(["automations"])
        for secret in inventory.secrets:
            os.environ[secret.from_env] = f"bench-{secret.name}"
        db = work / "server.db"
        start = time.perf_counter()
        _, report = asyncio.run(
            session.apply(inventory, Target(None, db=db), fingerprint=None, concurrency=8)
        )
        assert report.ok, report.failed[:3]
        print(
            f"setup: applied {len(report.applied):,} changes in {time.perf_counter() - start:.1f} s"
        )
        key = embedded_key(db)
        with running(db) as live:
            bare, runs = [], []
            for _ in range(args.rounds):
                bare.append(bare_parse(paths))
                runs.append(probe(live.url, key, work))
    plan_times = [r["seconds"] for r in runs]
    count = int(runs[0]["automations"])
    print(f"automations: {count:,}, webhooks: {len(inventory.webhooks)}, files: {len(paths)}")
    print(f"bare CSafeLoader parse: best {min(bare):.3f} s, median {statistics.median(bare):.3f} s")
    print(
        f"no-op plan over HTTP:   best {min(plan_times):.3f} s, "
        f"median {statistics.median(plan_times):.3f} s "
        f"(runs: {', '.join(f'{t:.3f}' for t in plan_times)})"
    )
    print(
        f"ratio: best {min(plan_times) / min(bare):.2f}x, median "
        f"{statistics.median(plan_times) / statistics.median(bare):.2f}x (target <= 4.00x)"
    )
    print(
        f"changes: {runs[0]['changes']}, read requests: {runs[0]['requests']} "
        f"(ceil(N/100) = {-(-count // 100)})"
    )
    print(
        f"peak RSS of the plan process: {max(r['max_rss_mb'] for r in runs):.0f} MB "
        "(target < 300 MB)"
    )


if __name__ == "__main__":
    main()
