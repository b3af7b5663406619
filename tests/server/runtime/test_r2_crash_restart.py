"""R2: `reconcile serve` SIGKILLed 3 times mid-delivery loses nothing.

The server runs as a subprocess over one database; the endpoint is R1's (it fails the
first attempt of each `webhook-id`, so retries are pending at every kill). After three
kills and a last restart, every accepted event is acknowledged with a 2xx, and an
attempt is repeated only when it was in flight at a kill: per server life, each id
reached the endpoint exactly as often as that life recorded an attempt for it, plus at
most one (the attempt a kill cut short), and none more in the last life. Every repeat
carries the same `webhook-id` and the same body bytes.

300 events (600 attempts or so): enough for each kill to land with attempts in flight
(16 at a time per endpoint) and pending retries, while the whole test, four server
starts included, stays within a few seconds of the suite. The time scale of 0.2 makes
the first retry about 1 s later and the deadline 3 s (as in R1: a loaded machine's slow
answer must not turn into a timeout's retry before the kill it is meant to meet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx

from reconcile.runtime import signing
from reconcile.server.app import create_app
from tests.runtime.faults import Received
from tests.server.helpers import InProcess, basic, build_world
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    hook_with_secrets,
    wait_until,
)

EVENTS = 300
BATCH = 150
KILLS = (120, 300, 450)  # requests the endpoint has seen when each kill is sent
START_TIMEOUT = 30.0
DONE_TIMEOUT = 90.0
SCALE = "0.2"


class Recording(Receiver):
    """The fault receiver, noting which server life sent each request."""

    life = 0
    seen: list[tuple[int, str, bytes]]
    connections = 0

    def __enter__(self) -> Recording:
        self.seen = []
        super().__enter__()
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await super()._serve(reader, writer)
        finally:
            self.connections -= 1

    async def _answer(self, got: Received, writer: object) -> bool:
        self.seen.append((self.life, got.headers.get("webhook-id", ""), got.body))
        return await super()._answer(got, writer)  # type: ignore[arg-type]


class Serving:
    """`reconcile serve` on a free port of 127.0.0.1, started (and killed) by the test."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db, self.log = db, log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.starts: list[float] = []

    def start(self) -> None:
        self.starts.append(time.time())
        env = {k: v for k, v in os.environ.items() if k != "RECONCILE_ADMIN_KEY"}
        env["RECONCILE_DELIVERY_TIME_SCALE"] = SCALE
        # Deliveries left due by a kill wait out the restart: the intake's lag bound
        # (test_backlog.py's subject) would refuse the next batch, which is not R2's.
        env["RECONCILE_DELIVERY_LAG"] = "86400"
        command = [sys.executable, "-m", "reconcile", "serve", "--db", str(self.db)]
        command += ["--port", "0", "--allow-delivery-to", "127.0.0.1", "--log-level", "warning"]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            )
        self.url = _serving_url(self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(START_TIMEOUT)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()


def _serving_url(proc: subprocess.Popen[str]) -> str:
    """The address the server prints, read within START_TIMEOUT; then its /healthz."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(START_TIMEOUT)
    assert line, proc.poll()
    assert line[0].startswith("Serving on "), line
    url = line[0].split()[2].removesuffix("/graphql")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return url
        time.sleep(0.05)
    raise AssertionError("the server did not answer /healthz")


def _prepared(db: Path, endpoint: str) -> str:
    """A team with a signed webhook to `endpoint` and an automation on aliases; the key."""
    app = create_app(db)
    try:
        world = build_world(InProcess(app))
        hook = hook_with_secrets(world, endpoint)
        alias_automation(world.admin, world.project_id, hook)
        return world.admin.key
    finally:
        app.state.service.close()


def _post(server: Serving, key: str, start: int) -> list[object]:
    batch = [alias_event(f"r2-{n}") for n in range(start, start + BATCH)]
    answer = httpx.post(
        server.url + "/api/v1/events", json={"events": batch}, headers=basic(key), timeout=60
    )
    assert answer.status_code == 202, answer.text
    return list(answer.json()["events"])


@contextlib.contextmanager
def _read(db: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        yield con
    finally:
        con.close()


def _unqueued_events(db: Path) -> int:
    """Events stored without their delivery: what an outbox outside the event's
    transaction leaves after a kill between the two."""
    with _read(db) as con:
        row = con.execute(
            "SELECT COUNT(*) FROM events e WHERE NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
        ).fetchone()
    return int(row[0])


def _settled(db: Path) -> tuple[dict[str, str], list[tuple[str, float, int | None]]]:
    """Each delivery's status by webhook-id, and every recorded attempt (id, start, status)."""
    with _read(db) as con:
        statuses = dict(con.execute("SELECT webhook_id, status FROM deliveries").fetchall())
        attempts = [
            (hook_id, datetime.fromisoformat(at).timestamp(), status)
            for hook_id, at, status in con.execute(
                "SELECT d.webhook_id, a.started_at, a.status FROM attempts a "
                "JOIN deliveries d ON d.id = a.delivery_id"
            )
        ]
    return statuses, attempts


def test_kills_mid_delivery_lose_nothing_and_repeat_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    db = tmp_path / "server.db"
    with Recording() as receiver:
        key = _prepared(db, receiver.url("/flaky"))
        server = Serving(db, tmp_path / "serve.log")
        acknowledged: list[object] = []
        try:
            server.start()
            acknowledged += _post(server, key, 0)
            for life, threshold in enumerate(KILLS):
                if life == 1:
                    acknowledged += _post(server, key, BATCH)
                assert wait_until(lambda t=threshold: len(receiver.seen) >= t, DONE_TIMEOUT), (
                    life,
                    len(receiver.seen),
                )
                server.kill()
                # What the killed server sent may still be unread: a busy receiver reads
                # it after the kill, and it belongs to the life that sent it. The kill
                # closed every connection; once each is read to its end, none is left.
                assert wait_until(lambda: receiver.connections == 0, DONE_TIMEOUT)
                receiver.life = life + 1
                assert _unqueued_events(db) == 0
                server.start()
            expected = {signing.delivery_id("acme", f"r2-{n}", "promote") for n in range(EVENTS)}
            assert wait_until(lambda: set(receiver.successes) >= expected, DONE_TIMEOUT)
            assert wait_until(lambda: _settled(db)[0] == dict.fromkeys(expected, "delivered"), 30)
        finally:
            server.stop()
    assert acknowledged == [{"id": f"r2-{n}", "automations": ["promote"]} for n in range(EVENTS)]
    statuses, attempts = _settled(db)
    assert statuses == dict.fromkeys(expected, "delivered")
    # One 2xx recorded per delivery.
    assert Counter(h for h, _, status in attempts if status == 200) == dict.fromkeys(expected, 1)
    bounds = [*server.starts[1:], float("inf")]

    def life_of(started: float) -> int:
        return next(n for n, end in enumerate(bounds) if started < end)

    recorded = Counter((life_of(at), hook_id) for hook_id, at, _ in attempts)
    reached = Counter((life, hook_id) for life, hook_id, _ in receiver.seen)
    last = len(KILLS)
    for (life, hook_id), count in reached.items():
        extra = count - recorded[life, hook_id]
        assert extra in ({0} if life == last else {0, 1}), (life, hook_id, count, extra)
    assert all(reached[where] >= count for where, count in recorded.items())
    bodies: dict[str, set[bytes]] = {}
    for _, hook_id, body in receiver.seen:
        bodies.setdefault(hook_id, set()).add(body)
    assert set(bodies) == expected
    assert all(len(sent) == 1 for sent in bodies.values())
    repeated = sum(reached.values()) - len(attempts)

    assert 0 <= repeated <= 3 * 16  # at most the attempts in flight at the three kills
