"""Attempts are recorded in batches; a batch that cannot be written leaves its
deliveries pending, to be sent again (same body and `webhook-id`), and the worker goes on."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from reconcile.runtime.sender import Outcome
from reconcile.server.runtime import outbox
from tests.server.helpers import World
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
    statuses,
    worker,
)


def test_an_attempt_not_recorded_is_sent_again_and_the_worker_goes_on(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real-time deadlines: at the suite's 0.01 scale (0.15 s an attempt) a busy machine
    # times the first attempt out before it is sent, and the receiver sees one request.
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "1")
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    emit(world, alias_event("first"))
    real = outbox.settle_all
    failures = [sqlite3.OperationalError("disk I/O error")]

    def settle_all(*args: Any, **kwargs: Any) -> list[str]:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "settle_all", settle_all)
    assert drain(world) == 0
    assert statuses(world) == {"promote": ["delivered"]}
    sent = [(r.headers["webhook-id"], r.body) for r in receiver.requests]
    assert len(sent) == 2
    assert sent[0] == sent[1]
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1


def test_attempts_finished_together_are_recorded_in_one_commit(
    world: World, receiver: Receiver
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    for n in range(5):
        emit(world, alias_event(f"e{n}"))
    running = worker(world)
    dues, _ = running._claim()
    assert len(dues) == 5
    attempts = [
        outbox.Attempt(due, 1.0e9 + n, Outcome(200, 0.01), [("webhook-id", due.webhook_id)], None)
        for n, due in enumerate(dues)
    ]
    seen: list[str] = []
    with world.db.write() as con:  # the writer's one connection: traced from here on
        con.set_trace_callback(seen.append)
    try:
        running._settle(attempts)
    finally:
        with world.db.write() as con:
            con.set_trace_callback(None)
    # The COMMIT that closes the transaction which set the trace, then the batch: one
    # BEGIN IMMEDIATE, the five attempts' INSERTs and UPDATEs, one COMMIT; then the
    # BEGIN of the transaction that unsets the trace.
    kinds = [statement.split(" ")[0] for statement in seen]
    assert kinds == ["COMMIT", "BEGIN", *["INSERT"] * 5, *["UPDATE"] * 5, "COMMIT", "BEGIN"]
    assert statuses(world) == {"promote": ["delivered"] * 5}
    with world.db.read() as con:
        rows = con.execute("SELECT delivery_id FROM attempts ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [due.id for due in dues]
