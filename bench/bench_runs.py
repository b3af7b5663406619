"""Real W&B clients against `reconcile serve`: the three targets of the runs issue.

Run: `.venv/bin/python bench/bench_runs.py [--steps 10000] [--metrics 20] [--posts 200]
[--upload-mb 200] [--rounds 3] [--baseline-src DIR] [--sdk-only]`.
Targets 1 and 3 run their sides in interleaved rounds, the order rotating; each SDK run
is a fresh process. `--baseline-src` (another checkout's `src`) adds a third side to 1:
the same loop online against that code's server.

1. The official SDK logging `--steps` steps of `--metrics` metrics, whole script from
   `wandb.init` to the end of `finish`, online against the server and with
   `WANDB_MODE=offline`, side by side (target: online at most 1.15x offline).
2. From the start of a file_stream post that carries a crossing value to the first
   delivery attempt's arrival at a loopback sink, `--posts` runs (target: p99 under
   100 ms).
3. A `--upload-mb` MB run file PUT to its signed upload URL, against a bare httpx PUT
   of the same bytes to a loopback sink that discards them (target: at least half as
   fast).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import Served, Sink, free_port, sdk_env, sdk_team

TEAM, PROJECT = "bench", "train"
TRAIN = """
import sys, time, wandb
steps, metrics = int(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
run = wandb.init(entity="bench", project="train")
for step in range(steps):
    run.log({f"m{i}": (step * 31 + i) % 97 / 97 for i in range(metrics)})
run.finish()
print(time.perf_counter() - start)
"""
UPSERT = """mutation ($name: String) { upsertBucket(input: {name: $name, modelName: "train",
  entityName: "bench"}) { inserted } }"""
FILES = """mutation ($run: String!) { createRunFiles(input: {entityName: "bench",
  projectName: "train", runName: $run, files: ["big.bin"]}) { files { uploadUrl } } }"""
DISCARD = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def populate(db_path: Path, sink_url: str) -> str:
    """The team, and a threshold automation on `loss` > 0.5 delivering to the sink; the key."""
    threshold = {"name": "loss", "window_size": 1, "cmp_op": "$gt", "threshold": 0.5}
    run_filter = {"run_filter": '{"$and":[]}', "metric_filter": None}
    run_filter["run_metric_filter"] = {"threshold_filter": threshold}
    return sdk_team(
        db_path, sink_url, ("loss-high", "RUN_METRIC", run_filter, '{"version": "${run_id}"}')
    )


def sdk_seconds(url: str, key: str, home: Path, mode: str, size: tuple[int, int]) -> float:
    env = sdk_env(url, key, home, mode)
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(size[0]), str(size[1])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return float(done.stdout.strip().splitlines()[-1])


def latencies(url: str, key: str, sink: Sink, posts: int) -> list[float]:
    auth = ("api", key)
    sent: dict[str, float] = {}
    with httpx.Client(base_url=url, auth=auth, timeout=30) as client:
        for number in range(posts):
            name = f"lat-{number:05d}"
            made = client.post("/graphql", json={"query": UPSERT, "variables": {"name": name}})
            assert made.status_code == 200, made.text
            line = json.dumps({"_step": 0, "loss": 0.9})
            body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": [line]}}}
            sent[name] = time.monotonic()
            answer = client.post(f"/files/{TEAM}/{PROJECT}/{name}/file_stream", json=body)
            assert answer.status_code == 200, answer.text
            time.sleep(0.02)
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(arrived) < posts and time.monotonic() < deadline:
        for at, version in sink.arrivals():
            arrived.setdefault(str(version), at)
        time.sleep(0.2)
    return [arrived[name] - sent[name] for name in sent if name in arrived]


def upload_rates(
    url: str, key: str, megabytes: int, rounds: int
) -> tuple[list[float], list[float]]:
    """MB/s of a bare PUT and of a signed upload URL, `rounds` each, interleaved."""
    data = os.urandom(megabytes * 1024 * 1024)
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", DISCARD, str(port)])
    bare: list[float] = []
    ours: list[float] = []
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with httpx.Client(timeout=600) as client:
            for number in range(rounds):
                with httpx.Client(base_url=url, auth=("api", key), timeout=30) as api:
                    name = f"up-{number}"
                    api.post("/graphql", json={"query": UPSERT, "variables": {"name": name}})
                    made = api.post("/graphql", json={"query": FILES, "variables": {"run": name}})
                target = made.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
                sides = [(bare, f"http://127.0.0.1:{port}/x"), (ours, target)]
                for rates, place in sides if number % 2 == 0 else sides[::-1]:
                    start = time.perf_counter()
                    assert client.put(place, content=data).status_code == 200
                    rates.append(megabytes / (time.perf_counter() - start))
    finally:
        sink.terminate()
        sink.wait(10)
    return bare, ours


def p99(values: list[float]) -> float:
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[98]


def sdk_rounds(
    servers: list[tuple[str, str]], home: Path, size: tuple[int, int], rounds: int
) -> list[list[float]]:
    """Seconds of the SDK loop: offline, then online against each server; the sides run
    in interleaved rounds, their order rotating."""
    sides = [(servers[0], "offline")] + [(server, "online") for server in servers]
    times: list[list[float]] = [[] for _ in sides]
    for number in range(rounds):
        for index in [(number + shift) % len(sides) for shift in range(len(sides))]:
            (url, key), mode = sides[index]
            times[index].append(sdk_seconds(url, key, home, mode, size))
    return times


def report_sdk(label: str, offline: list[float], online: list[float]) -> None:
    print(
        f"1. {label}SDK loop over {len(online)} rounds: offline best {min(offline):.2f} s "
        f"median {statistics.median(offline):.2f} s, online best {min(online):.2f} s "
        f"median {statistics.median(online):.2f} s, "
        f"ratio {min(online) / min(offline):.2f}x best, "
        f"{statistics.median(online) / statistics.median(offline):.2f}x median "
        "(target <= 1.15x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of 1 and 3")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src: a 3rd side")
    parser.add_argument("--sdk-only", action="store_true", help="only target 1")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with Sink() as sink, tempfile.TemporaryDirectory() as name, contextlib.ExitStack() as stack:
        tmp = Path(name)
        key = populate(tmp / "server.db", sink.url)
        served = stack.enter_context(Served(tmp / "server.db"))
        servers = [(served.url, key)]
        if args.baseline_src:
            old_key = populate(tmp / "baseline.db", sink.url)
            old = stack.enter_context(Served(tmp / "baseline.db", src=args.baseline_src))
            servers.append((old.url, old_key))
        home = tmp / "sdk"
        home.mkdir()
        offline, *online = sdk_rounds(servers, home, (args.steps, args.metrics), args.rounds)
        for label, times in zip(("", "baseline server: "), online, strict=False):
            report_sdk(label, offline, times)
        print(f"load at the end {os.getloadavg()}")
        if not args.sdk_only:
            other_targets(served.url, key, sink, args)


def other_targets(url: str, key: str, sink: Sink, args: argparse.Namespace) -> None:
    got = latencies(url, key, sink, args.posts)
    print(
        f"2. crossing post -> first attempt: {len(got)}/{args.posts} arrived, "
        f"p50 {statistics.median(got) * 1e3:.1f} ms, p99 {p99(got) * 1e3:.1f} ms, "
        f"max {max(got) * 1e3:.1f} ms (target p99 < 100 ms)"
    )
    bare, ours = upload_rates(url, key, args.upload_mb, args.rounds)
    print(
        f"3. {args.upload_mb} MB upload over {args.rounds} rounds: bare PUT best "
        f"{max(bare):.0f} MB/s, signed URL best {max(ours):.0f} MB/s, "
        f"{max(ours) / max(bare):.2f} of bare best, "
        f"{statistics.median(ours) / statistics.median(bare):.2f} median (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
