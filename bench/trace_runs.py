"""Where the online SDK loop of `bench_runs.py` waits: every request the SDK sends to
`reconcile serve`, timed by a logging proxy on loopback, beside the script's own phases.

Run: `.venv/bin/python bench/trace_runs.py [--steps 10000] [--metrics 20] [--runs 1]
[--mode online|offline] [--keep FILE] [--spy FILE]`. `--keep` writes the largest body
sent (the final post); `--spy` records the server with py-spy (installed separately:
`pip install py-spy`, on PATH) as collapsed stacks. Prints the script's phases
(`wandb.init`, the `log` loop, `finish`) and each request: when it started (from the
script's start), how long the server took to answer, its size, and for GraphQL its
operation.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bench_runs import populate
from runtime_world import Served, Sink, free_port, sdk_env
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TRAIN = """
import sys, time, wandb
steps, metrics = int(sys.argv[1]), int(sys.argv[2])
print("start", time.time(), flush=True)
run = wandb.init(entity="bench", project="train")
print("init", time.time(), flush=True)
for step in range(steps):
    run.log({f"m{i}": (step * 31 + i) % 97 / 97 for i in range(metrics)})
print("logged", time.time(), flush=True)
run.finish()
print("finished", time.time(), flush=True)
"""


class Proxy:
    """Forwards every request to `upstream`, noting when it came and how long it took."""

    def __init__(self, upstream: str) -> None:
        self.client = httpx.AsyncClient(base_url=upstream, timeout=600)
        self.seen: list[tuple[float, float, str, str, int, int]] = []
        self.keep: Path | None = None
        self.kept = 0

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        start = time.time()
        headers = dict(request.headers.items())  # its Host: the upload URLs name the proxy
        answer = await self.client.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=body,
            headers=headers,
        )
        took = time.time() - start
        if self.keep is not None and len(body) > self.kept:
            self.kept = len(body)
            self.keep.write_bytes(body)
        self.seen.append(
            (
                start,
                took,
                request.method,
                _what(request.url.path, body),
                len(body),
                answer.status_code,
            )
        )
        drop = {"content-length", "content-encoding", "transfer-encoding"}
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in drop}
        return Response(answer.content, answer.status_code, kept)


def _what(path: str, body: bytes) -> str:
    if path != "/graphql":
        return path
    try:
        document: Any = json.loads(body)
    except ValueError:
        return path
    if isinstance(document, dict):
        query = str(document.get("query", ""))
        words = query.replace("(", " ").replace("{", " ").split()
        name = words[1] if len(words) > 1 and words[0] in ("query", "mutation") else "?"
        return f"graphql {name}"
    return path


def listen(proxy: Proxy) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    routes = [Route("/{path:path}", proxy.forward, methods=["GET", "POST", "PUT"])]
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=routes), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def spy_on(pid: int, out: Path | None) -> subprocess.Popen[bytes] | None:
    if out is None:
        return None
    record = ["py-spy", "record", "-r", "500", "-f", "raw", "-o", str(out), "-p", str(pid)]
    spy = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return spy


def show(stdout: str, seen: list[tuple[float, float, str, str, int, int]]) -> None:
    phases = dict(line.split() for line in stdout.splitlines() if line[:1].isalpha())
    zero = float(phases["start"])
    for name in ("init", "logged", "finished"):
        print(f"{name:>9} at {float(phases[name]) - zero:7.3f} s")
    print(f"{'start':>9} {'server':>9} {'bytes':>9}  status  request")
    for start, took, method, what, size, status in seen:
        print(f"{start - zero:8.3f}s {took * 1e3:7.1f}ms {size:9d}  {status}     {method} {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1, help="SDK scripts, one after another")
    parser.add_argument("--keep", type=Path, help="write the largest body here")
    parser.add_argument("--mode", default="online", help="online, or offline to compare")
    parser.add_argument("--spy", type=Path, help="py-spy's collapsed stacks of the server here")
    args = parser.parse_args()
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        key = populate(Path(tmp) / "server.db", sink.url)
        with Served(Path(tmp) / "server.db") as served:
            proxy = Proxy(served.url)
            proxy.keep = args.keep
            server, thread, url = listen(proxy)
            home = Path(tmp) / "sdk"
            home.mkdir()
            env = sdk_env(url, key, home, args.mode)
            spy = spy_on(served.process.pid, args.spy)
            for number in range(args.runs):
                proxy.seen = []
                done = subprocess.run(
                    [sys.executable, "-c", TRAIN, str(args.steps), str(args.metrics)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=1800,
                )
                print(f"run {number + 1}, {args.mode}, load {os.getloadavg()[0]:.1f}")
                show(done.stdout, proxy.seen)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            server.should_exit = True
            thread.join(10)


if __name__ == "__main__":
    main()
