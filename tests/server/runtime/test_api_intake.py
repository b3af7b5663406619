"""Event requests that arrive together are stored in one transaction, each with its own
answer: one refused leaves the others stored, and none of its own events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from reconcile.server.runtime import api, events, outbox
from tests.server.helpers import World, basic
from tests.server.runtime.support import alias_automation, alias_event, hook_with_secrets


def _body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(items)}).encode()


def _stored(world: World) -> list[str]:
    with world.db.read() as con:
        return [r[0] for r in con.execute("SELECT event_key FROM events ORDER BY id")]


def test_requests_stored_together_keep_their_own_answers(world: World) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, "https://a.example"))
    service = world.client.app.state.service
    key = basic(world.admin.key)["Authorization"]
    missing = {**alias_event("b2"), "project": "nowhere"}
    requests = [
        (key, _body(alias_event("a1"))),
        (key, _body(alias_event("b1"), missing)),  # its second event names no project
        (None, _body(alias_event("c1"))),  # no key
        (key, b'{"events": [{"type": "alias_added"}]}'),  # not a valid event
        (key, _body(alias_event("d1"))),
    ]
    results = events.ingest_many(service.db, service.box, requests, "https://wandb.ai")
    statuses = [status for (status, _), _ in results]
    assert statuses == [202, 404, 401, 400, 202]
    assert results[1][0][1]["error"]["index"] == 1
    assert [len(dues) for _, dues in results] == [1, 0, 0, 0, 1]
    assert _stored(world) == ["a1", "d1"]  # nothing of b1's request
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 2


def test_requests_arriving_together_share_one_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, "https://a.example"))
    service = world.client.app.state.service
    key = basic(world.admin.key)["Authorization"]
    batches: list[int] = []
    real = events.ingest_many

    def spy(*args: Any) -> Any:
        batches.append(len(args[2]))
        return real(*args)

    monkeypatch.setattr(events, "ingest_many", spy)
    handed: list[outbox.Due] = []

    async def main() -> list[int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", handed.extend)
        answers = await asyncio.gather(
            *(intake.submit(key, _body(alias_event(f"e{n}"))) for n in range(5))
        )
        late = await intake.submit(key, _body(alias_event("late")))
        return [status for status, _ in [*answers, late]]

    assert asyncio.run(main()) == [202] * 6
    assert batches == [5, 1]
    assert _stored(world) == ["e0", "e1", "e2", "e3", "e4", "late"]
    assert len(handed) == 6


def test_a_fault_storing_one_request_fails_only_that_request(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, "https://a.example"))
    service = world.client.app.state.service
    key = basic(world.admin.key)["Authorization"]
    real = events._store_all

    def faulty(con: Any, box: Any, user: Any, batch: Any, app_url: str) -> Any:
        stored = real(con, box, user, batch, app_url)  # written, then the fault
        if batch[0].id == "broken":
            raise KeyError("a fault of the server's")
        return stored

    monkeypatch.setattr(events, "_store_all", faulty)
    requests = [(key, _body(alias_event(name))) for name in ("before", "broken", "after")]
    results = events.ingest_many(service.db, service.box, requests, "https://wandb.ai")
    assert [status for (status, _), _ in results] == [202, 500, 202]
    assert results[1][0][1] == {"error": {"message": "internal error while storing the events"}}
    assert _stored(world) == ["before", "after"]  # nothing of the broken request
    assert [r.message for r in caplog.records] == ["storing an events request failed"]
