"""A cold no-op `reconcile plan` of 10,000 automations over HTTP, beside a cold parse.

Run: .venv/bin/python bench/bench_plan.py [--rounds 5]

The generated inventory (100 files, 10,000 automations, 100 webhooks and secrets) is
applied to a database first; `reconcile serve` then runs over it in a process of its
own on 127.0.0.1. Each round runs, in fresh processes and in alternating order,
`reconcile plan --server URL --detailed-exitcode` (exit 0: no changes) and a bare
CSafeLoader parse of the same files, each timed from start to exit.
Targets: plan at most 2x the parse (cold); read requests <= ceil(N/100) + a constant;
peak RSS of the plan process < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fair import bare_parse_argv, cold, interleaved, load, ratios, spread  # noqa: E402
from inventory_gen import write_inventory  # noqa: E402
from runtime_world import Served  # noqa: E402

from reconcile.apply import session  # noqa: E402
from reconcile.apply.target import Target, embedded_key  # noqa: E402
from reconcile.inventory.load import load_inventory  # noqa: E402

RECONCILE = str(Path(sys.executable).with_name("reconcile"))
# The plan's read requests, counted by the client's transport (not timed).
COUNT = """
import asyncio, json, sys
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
print(json.dumps({"requests": requests, "changes": len(planned.plan.changes)}))
"""


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) process `pid` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--server-src", type=Path, default=None, help="the source tree `reconcile serve` runs"
    )
    args = parser.parse_args()
    print(f"start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)
        paths = write_inventory(work / "automations")
        inventory = load_inventory(["automations"])
        for secret in inventory.secrets:
            os.environ[secret.from_env] = f"bench-{secret.name}"
        db = work / "server.db"
        _, report = asyncio.run(
            session.apply(inventory, Target(None, db=db), fingerprint=None, concurrency=8)
        )
        assert report.ok, report.failed[:3]
        key = embedded_key(db)
        env = dict(os.environ, WANDB_API_KEY=key)
        with Served(db, src=args.server_src, allow=None) as served:
            argv = [RECONCILE, "plan", "--server", served.url, "--detailed-exitcode"]
            counted = subprocess.run(
                [sys.executable, "-c", COUNT, served.url, key],
                cwd=work, capture_output=True, text=True, check=True, timeout=600,
            )  # fmt: skip
            reads = json.loads(counted.stdout)
            plans: list = []
            served_cpu: list[float] = []

            def plan() -> float:
                before = process_cpu(served.process.pid)
                done = cold(argv, work, env)
                served_cpu.append(process_cpu(served.process.pid) - before)
                assert done.returncode == 0, done  # 0: no changes
                plans.append(done)
                return done.seconds

            parses: list = []

            def parse() -> float:
                done = cold(bare_parse_argv("automations"), work)
                parses.append(done)
                return done.seconds

            runs = interleaved({"parse": parse, "plan": plan}, args.rounds)
    count = len(inventory.automations)
    print(f"automations: {count:,}, webhooks: {len(inventory.webhooks)}, files: {len(paths)}")
    print(f"cold bare CSafeLoader parse: {spread(runs['parse'])}")
    print(f"cold no-op plan over HTTP:   {spread(runs['plan'])}")
    print(
        f"ratio per round: {spread(ratios(runs['plan'], runs['parse']), unit='x')} (target <= 2x)"
    )
    plan_cpu, parse_cpu = [p.cpu for p in plans], [p.cpu for p in parses]
    print(f"CPU: parse {spread(parse_cpu)}, plan {spread(plan_cpu)} (the server's not counted)")
    print(f"CPU ratio per round: {spread(ratios(plan_cpu, parse_cpu), unit='x')}")
    each = ", ".join(f"{w:.2f}/{c:.2f}x" for w, c in zip(
        ratios(runs["plan"], runs["parse"]), ratios(plan_cpu, parse_cpu), strict=True
    ))  # fmt: skip
    print(f"each round, wall/CPU ratio: {each}")
    print(f"the server's CPU per plan (/proc): {spread(served_cpu)}")
    pages = -(-count // 100)
    print(
        f"changes: {reads['changes']}, read requests: {reads['requests']} (ceil(N/100) = {pages})"
    )
    print(
        f"peak RSS of the plan process: {max(p.max_rss_mb for p in plans):.0f} MB (target < 300 MB)"
    )
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
