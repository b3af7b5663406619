"""A team with N webhook automations for the runtime benchmarks (`bench_*` of the runtime).

Only `HOT` of them can fire on the benchmark's event (alias added in `vision`, the
event's project); the rest are spread over other projects and event types, as in an
entity that grows: the index by scope and event type must keep them out of the way.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.server.helpers

from reconcile.server.admin import tasks as admin  # noqa: E402
from reconcile.server.store import automations as hooks  # noqa: E402
from reconcile.server.store.db import Database  # noqa: E402
from reconcile.server.store.teams import find_team, find_user  # noqa: E402
from tests.server.helpers import basic, sdk_environment  # noqa: E402

TEAM = "bench"
PROJECT = "vision"
OTHER_PROJECTS = 20
HOT = 50  # automations the benchmark's event may fire (alias added, in PROJECT)
FIRING = 1  # of those, how many fire (the others' alias filter does not match)
OTHER_TYPES = ("CREATE_ARTIFACT", "RUN_STATE", "RUN_METRIC")
PAYLOAD = '{"event": "${event_type}", "alias": "${alias}", "version": "${artifact_version_string}"}'


@dataclass(frozen=True)
class World:
    db: Database
    authorization: str


def _filter(kind: str, index: int) -> str:
    if kind == "ADD_ARTIFACT_ALIAS":
        alias = "^prod$" if index < FIRING else f"^staging-{index}$"
        return json.dumps({"$or": [{"$and": [{"alias": {"$regex": alias}}]}]})
    if kind == "RUN_STATE":
        return json.dumps({"run_filter": {}, "run_state_filter": {"states": ["FAILED"]}})
    if kind == "RUN_METRIC":
        return json.dumps(
            {
                "run_filter": {},
                "run_metric_filter": {
                    "threshold_filter": {
                        "name": "loss",
                        "agg_op": "MAX",
                        "window_size": 1,
                        "cmp_op": "$gt",
                        "threshold": 1.0,
                    }
                },
            }
        )
    return json.dumps({"$or": [{"$and": []}]})


def populate(db: Database, count: int, url: str) -> World:
    """Bootstrap the team and store `count` automations (`HOT` of them on PROJECT's
    alias events) all delivering to `url`."""
    boot = admin.bootstrap(db, team=TEAM)
    assert boot.api_key
    projects = [admin.ensure_project(db, TEAM, PROJECT)]
    projects += [admin.ensure_project(db, TEAM, f"other-{n:02d}") for n in range(OTHER_PROJECTS)]
    with db.write() as con:
        team = find_team(con, TEAM)
        user = find_user(con, boot.username)
        assert team is not None
        assert user is not None
        hook = hooks.create_webhook(
            con, team.id, name="sink", url_endpoint=url, secret_ref=None, access_token_ref=None
        )
        config = json.dumps({"requestPayload": PAYLOAD})
        for index in range(count):
            if index < HOT:
                project, kind = projects[0], "ADD_ARTIFACT_ALIAS"
            else:
                project = projects[index % len(projects)]
                kind = OTHER_TYPES[index % len(OTHER_TYPES)]
                if project is projects[0] and kind == "ADD_ARTIFACT_ALIAS":
                    kind = "CREATE_ARTIFACT"
            fields = hooks.TriggerFields(
                name=f"automation-{index:05d}",
                description=None,
                enabled=True,
                scope_type="PROJECT",
                scope_id=project.id,
                event_type=kind,
                event_filter=_filter(kind, index),
                action_type="GENERIC_WEBHOOK",
                integration_id=hook.id,
                action_config=config,
            )
            hooks.create_trigger(con, team.id, fields, user.id)
    return World(db, basic(boot.api_key)["Authorization"])


def alias_event(number: int) -> bytes:
    """One alias-added event in PROJECT (an id of its own: each is new)."""
    event = {
        "id": f"evt-{number:07d}",
        "type": "alias_added",
        "entity": TEAM,
        "project": PROJECT,
        "collection": "detector",
        "artifact": {"type": "model", "version": number},
        "alias": "prod",
    }
    return json.dumps(event).encode()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Sink:
    """`loopback_sink.py` in a subprocess, for the length of a `with` block."""

    def __init__(self) -> None:
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        here = Path(__file__).resolve().parent
        self.process = subprocess.Popen(
            [sys.executable, str(here / "loopback_sink.py"), str(self.port)]
        )

    def __enter__(self) -> Sink:
        import time

        import httpx

        for _ in range(200):  # at most ~10 s to start
            try:
                httpx.get(self.url)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("the loopback sink did not start")

    def arrivals(self) -> list[tuple[float, int | None]]:
        import httpx

        return [(float(at), v) for at, v in httpx.get(self.url, timeout=30).json()]

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def alias_batch(start: int, count: int) -> bytes:
    """`{"events": [...]}` of `count` alias events numbered from `start`."""
    events = [json.loads(alias_event(number)) for number in range(start, start + count)]
    return json.dumps({"events": events}).encode()


def rss_mib(pid: int) -> float:
    """The resident memory of process `pid`, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Served:
    """`reconcile serve` over `db` in a process of its own, for a `with` block; `src`
    picks the source tree it runs (another checkout, to compare with), `script` a
    wrapper run instead of `reconcile serve`."""

    def __init__(
        self,
        db: Path,
        src: Path | None = None,
        allow: str | None = "127.0.0.1",
        script: Path | None = None,
    ) -> None:
        import os
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # `script`: a wrapper taking `reconcile serve`'s options (bench/discarding_serve.py).
        command = [str(script)] if script else ["-m", "reconcile", "serve"]
        serve = [sys.executable, *command, "--db", str(db)]
        serve += ["--port", str(self.port)]
        serve += ["--allow-delivery-to", allow] if allow else []
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = str(src)
        self.process = subprocess.Popen(
            serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def __enter__(self) -> Served:
        import time

        import httpx

        for _ in range(400):  # at most ~20 s to start
            try:
                httpx.get(f"{self.url}/healthz")
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("the server did not start")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(20)


def sdk_team(db_path: Path, sink_url: str, automation: tuple[str, str, object, str]) -> str:
    """A fresh database for the SDK benchmarks: team `bench`, project `train`, and one
    automation (name, event type, filter, payload) on the project delivering to the sink;
    the admin's key."""
    name, event_type, event_filter, payload = automation
    db = Database(db_path)
    boot = admin.bootstrap(db, team="bench")
    project = admin.ensure_project(db, "bench", "train")
    with db.write() as con:
        team, user = find_team(con, "bench"), find_user(con, boot.username)
        assert team is not None
        assert user is not None
        hook = hooks.create_webhook(
            con, team.id, name="sink", url_endpoint=sink_url, secret_ref=None, access_token_ref=None
        )
        fields = hooks.TriggerFields(
            name=name,
            description=None,
            enabled=True,
            scope_type="PROJECT",
            scope_id=project.id,
            event_type=event_type,
            event_filter=json.dumps(event_filter),
            action_type="GENERIC_WEBHOOK",
            integration_id=hook.id,
            action_config=json.dumps({"requestPayload": payload}),
        )
        hooks.create_trigger(con, team.id, fields, user.id)
    db.close()
    assert boot.api_key
    return boot.api_key


def sdk_env(url: str, key: str, home: Path, mode: str = "online") -> dict[str, str]:
    """This process's environment with the SDK pointed at `url` (tests' sdk_environment)."""
    return {**os.environ, **sdk_environment(url, key, home), "WANDB_MODE": mode}
