"""R1: 10,000 events to an endpoint failing half of all attempts: each id acknowledged,
exactly one 2xx per id (20,000 attempts; about 35 s on the 2-core CI machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.runtime import signing
from reconcile.server.app import create_app
from reconcile.server.runtime import backlog
from tests.server.helpers import InProcess, World
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
)

EVENTS = 10_000
BATCH = 1_000


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    """R1 stores all its events before a worker sends any: a backlog of due deliveries
    past the intake's default bounds, in count and in how long they wait (test_backlog.py's
    subject, not R1's)."""
    monkeypatch.setenv(backlog.BACKLOG_ENV, str(EVENTS))
    monkeypatch.setenv(backlog.LAG_ENV, "86400")
    app = create_app(tmp_path / "server.db")
    yield InProcess(app)
    app.state.service.close()


def test_every_event_is_delivered_exactly_once_despite_failures(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deadline of 3 s per attempt (first retry after about 1 s): an answer slower than
    # the deadline on a loaded machine would (rightly) count as a timeout and be sent
    # again, which is R2's subject, not R1's.
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "0.2")
    hook = hook_with_secrets(world, receiver.url("/flaky"))
    alias_automation(world.admin, world.project_id, hook)
    acknowledged = []
    for start in range(0, EVENTS, BATCH):
        batch = [alias_event(f"r1-{n}") for n in range(start, start + BATCH)]
        answer = emit(world, {"events": batch})
        assert answer.status_code == 202
        acknowledged += answer.json()["events"]
    assert acknowledged == [{"id": f"r1-{n}", "automations": ["promote"]} for n in range(EVENTS)]
    assert drain(world, timeout=240) == 0
    expected = {signing.delivery_id("acme", f"r1-{n}", "promote") for n in range(EVENTS)}
    assert set(receiver.successes) == expected
    assert set(receiver.successes.values()) == {1}
    assert sum(receiver.attempts.values()) == 2 * EVENTS  # half of all attempts failed
    with world.db.read() as con:
        rows = con.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
    assert [tuple(r) for r in rows] == [("delivered", EVENTS)]
