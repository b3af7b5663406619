"""The cost budget against a `reconcile serve` process: the dearest admitted queries, a
`viewer` query meanwhile, and what refusing a request without a valid key costs.

Run: `.venv/bin/python bench/bench_server_cost.py [--count N] [--rounds R]
[--write FILE]`. The server runs in its own process on 127.0.0.1 (as `reconcile
serve` does), so its CPU time can be read from /proc; the client is this process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from graphql import FragmentDefinitionNode, parse, print_ast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_server_list import TEAM, populate  # noqa: E402
from reconcile.server.admin import tasks as admin  # noqa: E402
from reconcile.server.api import cost  # noqa: E402
from reconcile.server.api.graph import Documents, load_schema  # noqa: E402
from reconcile.server.api.ids import encode_cursor  # noqa: E402
from reconcile.server.store.db import Database  # noqa: E402
from tests.server.helpers import basic  # noqa: E402
from tests.server.live import free_port  # noqa: E402

MAX_LOOPS = 100_000  # a bound on every loop, far above what the runs need
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def sdk_fragments() -> str:
    """The fragments of the SDK's `GetEntityAutomations` (its full trigger fields)."""
    from wandb.automations._generated.operations import GET_ENTITY_AUTOMATIONS_GQL

    document = parse(str(GET_ENTITY_AUTOMATIONS_GQL))
    kept = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    return "\n".join(print_ast(d) for d in kept)


def shapes(count: int) -> dict[str, str]:
    """Queries at the edge of the budget, each with a different share of reads and fields."""
    entity = f'scope: entity(name: "{TEAM}")'
    after = [""] + [f', after: "{encode_cursor(i * 1000 % count or count)}"' for i in (1, 2, 3)]
    full = " ".join(
        f"p{i}: triggers(first: 1000{after[i]}) "
        "{ pageInfo { ...PageInfoFields } edges { node { ...TriggerFields } } }"
        for i in range(4)
    )
    page = "triggers(first: 1000) { edges { node { id } } }"
    ids = " ".join(f"p{i}: {page}" for i in range(7))
    names = " ".join(f"n{j}: name" for j in range(48))
    leaves = " ".join(
        f"p{i}: triggers(first: 1000) {{ edges {{ node {{ id {names} }} }} }}" for i in range(4)
    )
    unpaged = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ id }} }}'
    return {
        "4 pages of 1,000 with the SDK's trigger fields": f"query {{ {entity} {{ {full} }} }}\n"
        + sdk_fragments(),
        "7 pages of 1,000 ids": f"query {{ {entity} {{ {ids} }} }}",
        "4 pages of 1,000 with 49 fields each": f"query {{ {entity} {{ {leaves} }} }}",
        "a project's list of all its automations (refused as it is read)": f"query {{ {unpaged} }}",
    }


def static_cost(schema: Documents, query: str) -> int:
    prepared = schema.prepare(query)
    assert prepared.document is not None, prepared.errors
    (operation,) = [d for d in prepared.document.definitions if d.kind == "operation_definition"]
    return cost.operation_cost(schema.schema, prepared.fragments, operation, {})  # type: ignore[arg-type]


@contextmanager
def serving(db_path: Path, log: Path) -> Iterator[tuple[str, int]]:
    """`reconcile serve` in its own process; yields its URL and process id."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "reconcile"), "serve", "--db", str(db_path)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)],  # logging at its default level, info
            stdout=sink,
            stderr=sink,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise RuntimeError(f"the server did not start: {log.read_text()}")
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def viewer_loop(url: str, key: str, ready: Any, stop: Any, out: Any) -> None:
    """Another user's `viewer` queries one after another until told to stop."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers=basic(key), timeout=30) as client:
        for _ in range(MAX_LOOPS):
            if stop.is_set():
                break
            started = time.perf_counter()
            response = client.post("/graphql", json={"query": "{ viewer { username } }"})
            latencies.append(time.perf_counter() - started)
            assert response.json()["data"]["viewer"]["username"] == "other"
            ready.set()
    out.put(latencies)


def big_with_viewer(
    url: str, member: str, other: str, query: str
) -> tuple[float, list[float], str]:
    """The big query's time to its last byte, and each `viewer` answer's time meanwhile.

    The viewer client runs in a process of its own, so the big answer's download in
    this one does not slow it down."""
    context = multiprocessing.get_context("fork")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    viewer = context.Process(target=viewer_loop, args=(url, other, ready, stop, out))
    with httpx.Client(base_url=url, headers=basic(member), timeout=60) as client:
        client.post("/graphql", json={"query": "{ viewer { id } }"})  # connection warmed
        viewer.start()
        assert ready.wait(30), "the viewer loop did not start"
        started = time.perf_counter()
        response = client.post("/graphql", json={"query": query})
        elapsed = time.perf_counter() - started
        stop.set()
        latencies: list[float] = out.get(timeout=30)
        viewer.join(30)
    errors = response.json().get("errors") or [{}]
    code = errors[0].get("extensions", {}).get("code", "")
    assert (response.status_code == 200 and not code) or code == "QUERY_TOO_EXPENSIVE", code
    return elapsed, latencies, f"{response.status_code} {code}".strip()


def refusal_cpu(url: str, pid: int, headers: dict[str, str], body: bytes, requests: int) -> float:
    """Server CPU seconds per request refused for its key."""
    with httpx.Client(base_url=url, timeout=30) as client:
        before = cpu_seconds(pid)
        for _ in range(requests):
            response = client.post("/graphql", content=body, headers=headers)
            assert response.status_code == 401, response.text
        return (cpu_seconds(pid) - before) / requests


def bodies() -> dict[str, bytes]:
    """Request bodies by name: empty, padded to 64 KiB and 1 MiB, and a 95 KB query."""
    padded = {size: b'{"query": "' + b"x" * (size - 13) + b'"}' for size in (65_536, 1_048_576)}
    aliases = "{ " + " ".join(f"v{i}: viewer {{ id }}" for i in range(4000)) + " }"
    return {
        "0 bytes": b"",
        "64 KiB": padded[65_536],
        "1 MiB": padded[1_048_576],
        f"a query of 4,000 aliases ({len(aliases) // 1000} KB)": json.dumps(
            {"query": aliases}
        ).encode(),
    }


def prepare(directory: Path, count: int) -> tuple[Path, str, str]:
    path = directory / "server.db"
    db = Database(path)
    populate(db, count)
    admin.create_user(db, "member")
    admin.set_role(db, TEAM, "member", "member")
    member = admin.create_api_key(db, "member")
    admin.ensure_team(db, "elsewhere")
    admin.create_user(db, "other")
    admin.set_role(db, "elsewhere", "other", "member")
    other = admin.create_api_key(db, "other")
    db.close()
    return path, member, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    documents = Documents(load_schema())
    lines = [f"load before: {os.getloadavg()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        path, member, other = prepare(Path(tmp), args.count)
        with serving(path, Path(tmp) / "server.log") as (url, pid):
            lines += [
                "| query | cost | answer | big: median / worst | viewer meanwhile: median / worst |"
            ]
            lines += ["|---|---|---|---|---|"]
            for name, query in shapes(args.count).items():
                bigs, viewers = [], []
                for _ in range(args.rounds):
                    elapsed, latencies, status = big_with_viewer(url, member, other, query)
                    bigs.append(elapsed)
                    viewers.extend(latencies)
                lines.append(
                    f"| {name} | {static_cost(documents, query):,} | {status} "
                    f"| {statistics.median(bigs) * 1000:.0f} / {max(bigs) * 1000:.0f} ms "
                    f"| {statistics.median(viewers) * 1000:.1f} / {max(viewers) * 1000:.1f} ms "
                    f"({len(viewers)} answers) |"
                )
            lines += ["", "| refused request | body | server CPU per request |", "|---|---|---|"]
            refusals = {
                "no key": {},
                "malformed key": {"Authorization": "Bearer nope"},
                "unknown key": {"Authorization": "Bearer local-" + "x" * 40},
            }
            for name, headers in refusals.items():
                for size, body in bodies().items():
                    seconds = refusal_cpu(url, pid, headers, body, args.requests)
                    lines.append(f"| {name} | {size} | {seconds * 1000:.3f} ms |")
    lines += ["", f"load after: {os.getloadavg()}"]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
