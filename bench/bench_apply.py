"""Apply 1,000 new automations: `reconcile apply` against a loop of the SDK's create_automation.

Run: .venv/bin/python bench/bench_apply.py [--count 1000]
Both create the same kind of automation (run state -> webhook with a payload) in a
project of their own team, on one embedded server over HTTP on 127.0.0.1. The SDK side
times only its loop; the reconcile side times the whole command (start, validate,
read, plan, apply). Target (the reconciler issue): reconcile at least 3x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconcile.apply.target import embedded_key  # noqa: E402
from reconcile.client.transport import basic_auth  # noqa: E402
from reconcile.server.admin import tasks as admin  # noqa: E402
from reconcile.server.store.db import Database  # noqa: E402
from tests.server.live import running  # noqa: E402

SDK_LOOP = """
import json, sys, time
import wandb
from wandb.automations import OnRunState, RunEvent, SendWebhook
count = int(sys.argv[1])
api = wandb.Api()
project = api.project("bench", entity="sdk-team")
hook = next(iter(api.webhook_integrations(entity="sdk-team")))
start = time.perf_counter()
for i in range(count):
    event = OnRunState(scope=project, filter=RunEvent.state.in_(["FAILED"]))
    action = SendWebhook.from_integration(hook, payload={"run": "${run_name}", "n": i})
    api.create_automation(event >> action, name=f"sdk-{i:05d}", description="bench")
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def inventory(count: int) -> str:
    lines = [
        "entity: rc-team",
        "webhooks:",
        "  - name: hook",
        "    url: https://hooks.example.com/bench",
        "automations:",
    ]
    for i in range(count):
        lines += [
            f"  - name: rc-{i:05d}",
            "    description: bench",
            "    scope: {project: bench}",
            "    when: {run_state: {states: [failed]}}",
            f"    then: {{webhook: {{to: hook, payload: {{run: '${{run_name}}', n: {i}}}}}}}",
        ]
    return "\n".join(lines) + "\n"


def prepare(db_path: Path) -> str:
    key = embedded_key(db_path)
    db = Database(db_path)
    try:
        for team in ("sdk-team", "rc-team"):
            admin.ensure_team(db, team)
            admin.set_role(db, team, admin.DEFAULT_ADMIN, "admin")
            admin.ensure_project(db, team, "bench")
    finally:
        db.close()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "automations").mkdir()
        (work / "automations" / "bench.yaml").write_text(inventory(args.count))
        key = prepare(work / "server.db")
        with running(work / "server.db") as live:
            hook = {
                "entityName": "sdk-team",
                "name": "hook",
                "urlEndpoint": "https://hooks.example.com/b",
            }
            httpx.post(
                f"{live.url}/graphql",
                headers={"Authorization": basic_auth(key)},
                json={
                    "query": "mutation ($i: CreateGenericWebhookIntegrationInput!) "
                    "{ createGenericWebhookIntegration(input: $i) { integration { __typename } } }",
                    "variables": {"i": hook},
                },
                timeout=30,
            ).raise_for_status()
            env = {
                **os.environ,
                "WANDB_BASE_URL": live.url,
                "WANDB_API_KEY": key,
                "WANDB_ERROR_REPORTING": "false",
                "WANDB_SILENT": "true",
                "WANDB_DIR": tmp,
                "WANDB_CONFIG_DIR": str(work / "config"),
                "WANDB_CACHE_DIR": str(work / "cache"),
            }
            sdk = subprocess.run(
                [sys.executable, "-c", SDK_LOOP, str(args.count)],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
            sdk_seconds = json.loads(sdk.stdout.strip().splitlines()[-1])["seconds"]
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "reconcile",
                    "apply",
                    "--server",
                    live.url,
                    "--auto-approve",
                    "--concurrency",
                    "8",
                ],
                cwd=work,
                env={**env, "NO_COLOR": "1"},
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
            ours = time.perf_counter() - start
    print(f"automations: {args.count:,}")
    print(f"SDK loop of create_automation: {sdk_seconds:.2f} s ({args.count / sdk_seconds:.0f}/s)")
    print(f"reconcile apply (whole command): {ours:.2f} s ({args.count / ours:.0f}/s)")
    print(f"speed-up: {sdk_seconds / ours:.2f}x (target >= 3.00x)")


if __name__ == "__main__":
    main()
