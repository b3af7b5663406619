"""The unmodified `wandb` 0.31 SDK runs a training script against a live server: its
run automations deliver exactly once, signed, variables filled; a killed script is
failed by crash detection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconcile.server.admin import listen
from reconcile.server.admin import tasks as admin
from tests.server.helpers import TEAM, World, build_world, sdk_environment
from tests.server.live import HttpClient, LiveServer, running
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import SECRET, hook_with_secrets

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""
RUN = {
    "event": "${event_type}",
    "run": "${run_name}",
    "run_id": "${run_id}",
    "url": "${run_url}",
    "project": "${project_name}",
}
METRIC_PAYLOAD = json.dumps({**RUN, "metric": "${metric_name}", "value": "${metric_value}"})
STATE_PAYLOAD = json.dumps({**RUN, "state": "${run_state}"})
# Bounded waits on conditions: generous, as other processes share the cores.
WAIT = float(os.environ.get("SDK_TEST_WAIT", "120"))

TRAIN = """
import sys, wandb
run = wandb.init(entity=sys.argv[1], project="vision", config={"lr": 0.01, "opt": {"name": "adam"}})
for step in range(50):
    run.log({"val": {"loss": 0.1 if step < 30 else 0.9}, "acc": step / 50})
run.summary["best_acc"] = 0.98
run.finish(exit_code=1)
"""

HANG = """
import sys, time, wandb
run = wandb.init(entity=sys.argv[1], project="vision")
run.log({"acc": 0.5})
print(run.id, flush=True)
time.sleep(600)
"""


@dataclass(frozen=True)
class Setup:
    world: World
    live: LiveServer
    receiver: Receiver
    home: Path


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver) -> Iterator[Setup]:
    allow = ("127.0.0.1",)
    with running(tmp_path / "server.db", limits=listen.Limits(), allow_delivery_to=allow) as live:
        world = build_world(HttpClient(live))  # type: ignore[arg-type]
        hook = hook_with_secrets(world, receiver.url("/ok"))
        _automation(world, hook, "val-loss-high", "RUN_METRIC", _threshold("val.loss"))
        states = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
        _automation(world, hook, "run-failed", "RUN_STATE", states)
        yield Setup(world, live, receiver, tmp_path / "sdk")


def _threshold(metric: str) -> dict[str, Any]:
    condition = {"name": metric, "agg_op": "AVERAGE", "window_size": 5, "cmp_op": "$gt"}
    return {
        "run_filter": '{"$and":[]}',
        "run_metric_filter": {"threshold_filter": {**condition, "threshold": 0.5}},
        "metric_filter": None,
    }


def _automation(world: World, hook: str, name: str, kind: str, run_filter: Any) -> None:
    payload = STATE_PAYLOAD if kind == "RUN_STATE" else METRIC_PAYLOAD
    action = {"integrationID": hook, "requestPayload": payload}
    made = {
        "name": name,
        "enabled": True,
        "scopeType": "PROJECT",
        "scopeID": world.project_id,
        "triggeringEventType": kind,
        "eventFilter": json.dumps(run_filter),
        "triggeredActionType": "GENERIC_WEBHOOK",
        "triggeredActionConfig": {"genericWebhookActionInput": action},
    }
    world.admin.ok(CREATE, {"input": made})


def _sdk(setup: Setup, key: str, script: str, **popen: Any) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **sdk_environment(setup.live.url, key, setup.home),
        "WANDB_MODE": "online",
        "WANDB__FILE_STREAM_TRANSMIT_INTERVAL": "1",
    }
    return subprocess.Popen([sys.executable, "-c", script, TEAM], env=env, text=True, **popen)


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _settled(setup: Setup) -> bool:
    with setup.world.db.read() as con:
        row = con.execute("SELECT COUNT(*) FROM deliveries WHERE status != 'delivered'").fetchone()
    return int(row[0]) == 0


def _signed(body: bytes, header: str) -> bool:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), header)


def test_a_training_script_fires_the_threshold_and_the_failure_once(setup: Setup) -> None:
    script = _sdk(setup, setup.world.member.key, TRAIN)
    assert script.wait(timeout=WAIT) == 0
    _until(lambda: len(setup.receiver.requests) >= 2, "two deliveries")
    _until(lambda: _settled(setup), "every delivery settled")
    got = sorted((json.loads(r.body) for r in setup.receiver.requests), key=lambda b: b["event"])
    assert len(setup.receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in setup.receiver.requests}) == 2
    for request in setup.receiver.requests:
        assert _signed(request.body, request.headers["x-wandb-signature"])
    run_id = got[0]["run_id"]
    url = f"https://wandb.ai/{TEAM}/vision/runs/{run_id}"
    common = {"run": run_id, "run_id": run_id, "url": url, "project": "vision"}
    assert got == [
        {**common, "event": "RUN_METRIC", "metric": "val.loss", "value": "0.58"},
        {**common, "event": "RUN_STATE", "state": "failed"},
    ]
    _reads_back(setup, run_id)


def _reads_back(setup: Setup, run_id: str) -> None:
    reader = f"""
import json, sys, wandb
run = wandb.Api().run("{TEAM}/vision/{run_id}")
rows = run.history(pandas=False, samples=1000)
print(json.dumps([run.state, run.config, run.summary["best_acc"], len(rows), rows[-1]["val"]]))
"""
    script = _sdk(setup, setup.world.member.key, reader, stdout=subprocess.PIPE)
    out, _ = script.communicate(timeout=WAIT)
    assert json.loads(out.strip().splitlines()[-1]) == [
        "failed",
        {"lr": 0.01, "opt": {"name": "adam"}},
        0.98,
        50,
        {"loss": 0.9},
    ]


TAGGED = """
import sys, wandb
for name, lr, tags in (("a", 0.1, ["baseline"]), ("b", 0.01, ["tuned"])):
    run = wandb.init(entity=sys.argv[1], project="vision", id=name, config={"lr": lr}, tags=tags)
    for step in range(12):
        run.log({"acc": step / 10, "val": {"loss": 1 - step / 10}} if step % 3 else {"acc": 0.0})
    run.summary["best"] = lr * 10
    run.finish()
"""
SCANS = f"""
import json, wandb
api = wandb.Api()
run = api.run("{TEAM}/vision/b")
out = {{
    "all": [row["_step"] for row in run.scan_history()],
    "keys": list(run.scan_history(keys=["val.loss"], min_step=3, max_step=8)),
    "paged": len(list(run.scan_history(page_size=5))),
    "tuned": [r.id for r in api.runs("{TEAM}/vision", filters={{"tags": {{"$in": ["tuned"]}}}})],
    "lr": [r.id for r in api.runs("{TEAM}/vision", filters={{"config.lr": {{"$gt": 0.05}}}})],
    "best": [r.id for r in api.runs("{TEAM}/vision", order="-summary_metrics.best")],
    "both": len(api.runs("{TEAM}/vision", filters={{"$or": [{{"state": "finished"}}]}})),
}}
print(json.dumps(out))
"""


def test_the_sdk_scans_history_and_filters_runs(setup: Setup) -> None:
    assert _sdk(setup, setup.world.member.key, TAGGED).wait(timeout=WAIT) == 0
    script = _sdk(setup, setup.world.member.key, SCANS, stdout=subprocess.PIPE)
    out, _ = script.communicate(timeout=WAIT)
    assert script.returncode == 0
    assert json.loads(out.strip().splitlines()[-1]) == {
        "all": list(range(12)),
        "keys": [
            {"_step": 4, "val.loss": 0.6},
            {"_step": 5, "val.loss": 0.5},
            {"_step": 7, "val.loss": 0.30000000000000004},
        ],
        "paged": 12,
        "tuned": ["b"],
        "lr": ["a"],
        "best": ["a", "b"],
        "both": 2,
    }


def test_a_viewer_reads_runs_and_cannot_start_one(setup: Setup) -> None:
    assert _sdk(setup, setup.world.member.key, TAGGED).wait(timeout=WAIT) == 0
    db = setup.world.db
    admin.create_user(db, "vic")
    admin.set_role(db, TEAM, "vic", "viewer")
    key = admin.create_api_key(db, "vic")
    reader = f"""
import json, wandb
print(json.dumps([r.id for r in wandb.Api().runs("{TEAM}/vision")]))
"""
    script = _sdk(setup, key, reader, stdout=subprocess.PIPE)
    out, _ = script.communicate(timeout=WAIT)
    assert json.loads(out.strip().splitlines()[-1]) == ["a", "b"]
    writer = _sdk(setup, key, HANG, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = writer.communicate(timeout=WAIT)
    assert writer.returncode != 0
    assert "permission denied: viewers of team acme cannot write runs" in err
    with db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_a_killed_script_is_failed_by_crash_detection(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_RUN_CRASH_SECONDS", "3")
    allow = ("127.0.0.1",)
    with running(tmp_path / "server.db", limits=listen.Limits(), allow_delivery_to=allow) as live:
        world = build_world(HttpClient(live))  # type: ignore[arg-type]
        hook = hook_with_secrets(world, receiver.url("/ok"))
        states = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
        _automation(world, hook, "run-failed", "RUN_STATE", states)
        setup = Setup(world, live, receiver, tmp_path / "sdk")
        script = _sdk(setup, world.admin.key, HANG, stdout=subprocess.PIPE)
        try:
            assert script.stdout is not None
            run_id = script.stdout.readline().strip()
            assert run_id
        finally:
            script.send_signal(signal.SIGKILL)
            script.wait(timeout=WAIT)
            if script.stdout is not None:
                script.stdout.close()
        _until(lambda: len(receiver.requests) >= 1, "the crash's delivery")
        _until(lambda: _settled(setup), "every delivery settled")
        with world.db.read() as con:
            row = con.execute("SELECT state, exit_code FROM runs WHERE name = ?", (run_id,))
            assert tuple(row.fetchone()) == ("failed", None)
    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0].body)
    assert (body["event"], body["run_id"], body["state"]) == ("RUN_STATE", run_id, "failed")
