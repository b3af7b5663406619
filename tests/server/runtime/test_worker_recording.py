"""Attempts are recorded in batches; a batch that cannot be written leaves its
deliveries pending, to be sent again (same body and `webhook-id`), and the worker goes on."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

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
)


def test_an_attempt_not_recorded_is_sent_again_and_the_worker_goes_on(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real-time deadlines: at the suite's 0.01 scale (0.15 s an attempt) a busy machine
    # times the first attempt out before it is sent, and the receiver sees one request.
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "1")
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    emit(world, alias_event("first"))
    real = outbox.settle
    failures = [sqlite3.OperationalError("disk I/O error")]

    def settle(*args: Any, **kwargs: Any) -> str:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "settle", settle)
    assert drain(world) == 0
    assert statuses(world) == {"promote": ["delivered"]}
    sent = [(r.headers["webhook-id"], r.body) for r in receiver.requests]
    assert len(sent) == 2
    assert sent[0] == sent[1]
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1
