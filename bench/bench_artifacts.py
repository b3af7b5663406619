"""Real W&B clients against `reconcile serve`: the two targets of the artifacts issue.

Run: `.venv/bin/python bench/bench_artifacts.py [--mb 1024] [--files 1000] [--rounds 3]
[--aliases 200] [--baseline-src DIR] [--floor]`.

1. The official SDK's `run.log_artifact` of `--files` files, `--mb` MB in all, from
   `log_artifact` to the end of `artifact.wait()` (a fresh process each time), against
   a bare httpx loop PUTting the same files to a loopback sink that discards them; in
   interleaved rounds, the order rotating. Each round changes every file (its first
   bytes), so nothing is de-duplicated. Target: at most 2x the bare loop. A third
   side says where the time goes: the same httpx loop PUTting the files to the
   server's own signed upload URLs (from `CreateArtifactFiles`). With
   `--baseline-src` (another checkout's `src`), the SDK and signed-URL sides run
   against that code's server too, in the same rotation, on a database of its own.
   With `--floor`, the SDK also logs to a server whose upload URLs discard the body
   (`discarding_serve.py`): the SDK's own share, the least any server can take.
2. `artifact.aliases.append(...); artifact.save()` returning, in the SDK's process, to
   the first delivery attempt's arrival at a loopback sink (an `alias_added`
   automation), `--aliases` times. Target: p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runs import DISCARD, p99
from runtime_world import Served, Sink, free_port, sdk_env, sdk_team

TEAM, PROJECT = "bench", "train"
LOG = """
import sys, time, wandb
run = wandb.init(entity="bench", project="train")
art = wandb.Artifact("weights", type="model")
art.add_dir(sys.argv[1])
start = time.perf_counter()
run.log_artifact(art)
art.wait()
print(time.perf_counter() - start)
run.finish()
"""
UPSERT = """mutation ($name: String) { upsertBucket(input: {name: $name, modelName: "train",
  entityName: "bench"}) { inserted } }"""
CREATE = """mutation ($run: String!, $digest: String!) { createArtifact(input: {
  artifactTypeName: "model", artifactCollectionName: "puts", entityName: "bench",
  projectName: "train", runName: $run, digest: $digest}) { artifact { id } } }"""
FILES = """mutation ($files: [CreateArtifactFileSpecInput!]!) { createArtifactFiles(input: {
  artifactFiles: $files, storageLayout: V2}) { files { edges { node { uploadUrl } } } } }"""
PROMOTE = """
import sys, time, wandb
api = wandb.Api(overrides={"entity": "bench"})
art = api.artifact("bench/train/weights:latest")
for number in range(int(sys.argv[1])):
    start = time.monotonic()
    art.aliases.append(f"prod-{number}")
    art.save()
    print(f"prod-{number} {start} {time.monotonic()}", flush=True)
"""


def populate(db_path: Path, sink_url: str) -> str:
    """The team, and an `alias_added` automation on `prod-*` delivering to the sink."""
    alias = {"$or": [{"$and": [{"alias": {"$regex": "^prod-"}}]}]}
    return sdk_team(
        db_path, sink_url, ("promoted", "ADD_ARTIFACT_ALIAS", alias, '{"version": "${alias}"}')
    )


def make_files(folder: Path, megabytes: int, count: int) -> list[Path]:
    folder.mkdir()
    size = megabytes * 1024 * 1024 // count
    paths = [folder / f"part-{n:04d}.bin" for n in range(count)]
    for path in paths:
        path.write_bytes(os.urandom(size))
    return paths


def touch(paths: list[Path], round_number: int) -> None:
    """A new first block in every file: new content, no de-duplication."""
    for path in paths:
        with path.open("r+b") as out:
            out.write(f"round {round_number:06d} ".encode() + os.urandom(16))


def log_seconds(url: str, key: str, home: Path, folder: Path) -> float:
    shutil.rmtree(home / "cache", ignore_errors=True)  # the SDK stages a copy there
    done = subprocess.run(
        [sys.executable, "-c", LOG, str(folder)],
        env=sdk_env(url, key, home),
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return float(done.stdout.strip().splitlines()[-1])


def bare_seconds(port: int, paths: list[Path]) -> float:
    start = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for path in paths:
            with path.open("rb") as body:
                answer = client.put(f"http://127.0.0.1:{port}/{path.name}", content=body)
            assert answer.status_code == 200
    return time.perf_counter() - start


def signed_seconds(url: str, key: str, paths: list[Path], number: int) -> float:
    """The files PUT to the server's signed upload URLs, one after another."""
    with httpx.Client(base_url=url, auth=("api", key), timeout=600) as api:
        run = f"put-{number}"
        api.post("/graphql", json={"query": UPSERT, "variables": {"name": run}})
        made = api.post(
            "/graphql", json={"query": CREATE, "variables": {"run": run, "digest": run}}
        )
        art = made.json()["data"]["createArtifact"]["artifact"]["id"]
        specs = [{"artifactID": art, "name": p.name, "md5": f"{number}-{p.name}"} for p in paths]
        files = api.post("/graphql", json={"query": FILES, "variables": {"files": specs}})
        edges = files.json()["data"]["createArtifactFiles"]["files"]["edges"]
        start = time.perf_counter()
        for path, edge in zip(paths, edges, strict=True):
            with path.open("rb") as body:
                answer = api.put(edge["node"]["uploadUrl"], content=body, auth=None)
            assert answer.status_code == 200
        return time.perf_counter() - start


def logging(
    servers: list[tuple[str, str]], tmp: Path, args: argparse.Namespace
) -> list[list[float]]:
    """Per side, its seconds per round: the bare loop, then for each server (url, key)
    the SDK and the signed URLs; for the discarding server (`--floor`, last), the SDK."""
    paths = make_files(tmp / "model", args.mb, args.files)
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", DISCARD, str(port)])
    sides: list[tuple[list[float], Callable[[int], float]]] = [
        ([], lambda _: bare_seconds(port, paths))
    ]
    for index, (url, key) in enumerate(servers):
        home = tmp / f"sdk-{index}"
        home.mkdir()
        sides.append(([], lambda _, u=url, k=key, h=home: log_seconds(u, k, h, tmp / "model")))
        if not (args.floor and index == len(servers) - 1):
            sides.append(([], lambda n, u=url, k=key: signed_seconds(u, k, paths, n)))
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        for number in range(args.rounds):
            touch(paths, number)
            shift = number % len(sides)
            for times, measure in sides[shift:] + sides[:shift]:
                times.append(measure(number))
    finally:
        sink.terminate()
        sink.wait(10)
    return [times for times, _ in sides]


def promote_latencies(
    url: str, key: str, tmp: Path, sink: Sink, count: int
) -> tuple[list[float], list[float]]:
    """Arrival at the sink after `save()` returned, and after it was called."""
    done = subprocess.run(
        [sys.executable, "-c", PROMOTE, str(count)],
        env=sdk_env(url, key, tmp / "sdk-0"),
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    called, returned = {}, {}
    for line in done.stdout.splitlines():
        alias, start, end = line.split()
        called[alias], returned[alias] = float(start), float(end)
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(arrived) < count and time.monotonic() < deadline:
        for at, version in sink.arrivals():
            arrived.setdefault(str(version), at)
        time.sleep(0.2)
    late = [arrived[a] - returned[a] for a in returned if a in arrived]
    return late, [arrived[a] - called[a] for a in called if a in arrived]


def report(
    label: str, args: argparse.Namespace, bare: list[float], ours: list[float], signed: list[float]
) -> None:
    print(
        f"1. {label}log_artifact of {args.mb} MB in {args.files} files over {args.rounds} "
        f"rounds: bare PUT loop best {min(bare):.2f} s median "
        f"{statistics.median(bare):.2f} s, SDK best {min(ours):.2f} s median "
        f"{statistics.median(ours):.2f} s: {min(ours) / min(bare):.2f}x best, "
        f"{statistics.median(ours) / statistics.median(bare):.2f}x median "
        "(target <= 2x)"
    )
    print(
        f"   {label}the same files PUT to the server's signed URLs: best {min(signed):.2f} s "
        f"median {statistics.median(signed):.2f} s: {min(signed) / min(bare):.2f}x "
        f"best, {statistics.median(signed) / statistics.median(bare):.2f}x median"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--aliases", type=int, default=200)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--floor", action="store_true")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with Sink() as sink, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        key = populate(tmp / "server.db", sink.url)
        with contextlib.ExitStack() as stack:
            served = stack.enter_context(Served(tmp / "server.db"))
            servers = [(served.url, key)]
            if args.baseline_src:
                old_key = populate(tmp / "baseline.db", sink.url)
                old = stack.enter_context(Served(tmp / "baseline.db", src=args.baseline_src))
                servers.append((old.url, old_key))
            if args.floor:
                floor_key = populate(tmp / "floor.db", sink.url)
                script = Path(__file__).resolve().parent / "discarding_serve.py"
                floor = stack.enter_context(Served(tmp / "floor.db", script=script))
                servers.append((floor.url, floor_key))
            bare, *per_server = logging(servers, tmp, args)
            if args.floor:
                floored = per_server.pop()
                print(
                    f"1. the SDK's floor (uploads discarded): best {min(floored):.2f} s median "
                    f"{statistics.median(floored):.2f} s: {min(floored) / min(bare):.2f}x best, "
                    f"{statistics.median(floored) / statistics.median(bare):.2f}x median"
                )
            for index, label in enumerate(("", "baseline ")[: len(per_server) // 2]):
                report(label, args, bare, per_server[2 * index], per_server[2 * index + 1])
            late, whole = promote_latencies(served.url, key, tmp, sink, args.aliases)
            for label, got in (("returned", late), ("called", whole)):
                print(
                    f"2. save() {label} -> first attempt: {len(got)}/{args.aliases} arrived, "
                    f"p50 {statistics.median(got) * 1e3:.1f} ms, p99 {p99(got) * 1e3:.1f} ms, "
                    f"max {max(got) * 1e3:.1f} ms (target p99 < 100 ms from returned)"
                )


if __name__ == "__main__":
    main()
