"""The intake: each user's requests take turns with other users' (round-robin, bounded
turns, a request stored whole); a turn's requests share one transaction, each with its
own answer: one refused leaves the others stored, and none of its own events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from reconcile.server.api import auth
from reconcile.server.runtime import api, events, outbox
from tests.server.helpers import World, basic
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    emit,
    failed_run,
    hook_with_secrets,
    run_url_automation,
)


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


def _spy_turns(monkeypatch: pytest.MonkeyPatch) -> list[list[str | None]]:
    """The requests of each turn the intake stores, as their authorization headers."""
    turns: list[list[str | None]] = []
    real = events.store_many

    def spy(db: Any, box: Any, requests: Any, app_url: str) -> Any:
        turns.append([authorization for authorization, _ in requests])
        return real(db, box, requests, app_url)

    monkeypatch.setattr(events, "store_many", spy)
    return turns


def _submit(intake: api.Intake, world: World, key: str, raw: bytes) -> Any:
    with world.db.read() as con:
        user = auth.authenticate(con, key)
    return intake.submit(user, key, events.prepare(raw))


def test_requests_of_one_user_arriving_together_share_one_turn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, "https://a.example"))
    service = world.client.app.state.service
    key = basic(world.admin.key)["Authorization"]
    turns = _spy_turns(monkeypatch)
    handed: list[outbox.Due] = []

    async def main() -> list[int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", handed.extend)
        answers = await asyncio.gather(
            *(_submit(intake, world, key, _body(alias_event(f"e{n}"))) for n in range(5))
        )
        late = await _submit(intake, world, key, _body(alias_event("late")))
        return [status for status, _ in [*answers, late]]

    assert asyncio.run(main()) == [202] * 6
    assert turns == [[key] * 5, [key]]
    assert _stored(world) == ["e0", "e1", "e2", "e3", "e4", "late"]
    assert len(handed) == 6


def test_users_take_turns_a_large_batch_stored_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three batches of a full turn each from one user, then one event of another user:
    the other's event is stored second, not behind all three."""
    service = world.client.app.state.service
    big = basic(world.admin.key)["Authorization"]
    small = basic(world.member.key)["Authorization"]
    turns = _spy_turns(monkeypatch)

    def batch(start: int) -> bytes:
        count = api.TURN_EVENTS
        return _body(*(alias_event(f"a{n}") for n in range(start, start + count)))

    async def main() -> list[int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", lambda _: None)
        sent = [(big, batch(0)), (big, batch(1000)), (big, batch(2000))]
        sent.append((small, _body(alias_event("b0"))))
        answers = await asyncio.gather(*(_submit(intake, world, k, raw) for k, raw in sent))
        return [status for status, _ in answers]

    assert asyncio.run(main()) == [202] * 4
    assert turns == [[big], [small], [big], [big]]
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3 * api.TURN_EVENTS + 1


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


def test_a_request_arriving_during_a_turn_goes_before_that_users_next_turn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    service = world.client.app.state.service
    big = basic(world.admin.key)["Authorization"]
    small = basic(world.member.key)["Authorization"]
    turns: list[list[str | None]] = []
    storing, release = threading.Event(), threading.Event()
    real = events.store_many

    def held(db: Any, box: Any, requests: Any, app_url: str) -> Any:
        turns.append([authorization for authorization, _ in requests])
        storing.set()
        assert release.wait(30)  # the first turn waits for the small request to arrive
        return real(db, box, requests, app_url)

    monkeypatch.setattr(events, "store_many", held)

    def batch(start: int) -> bytes:
        return _body(*(alias_event(f"a{n}") for n in range(start, start + api.TURN_EVENTS)))

    async def main() -> list[int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", lambda _: None)
        bigs = [
            asyncio.ensure_future(_submit(intake, world, big, batch(n * 1000))) for n in range(3)
        ]
        assert await asyncio.to_thread(storing.wait, 30)
        late = asyncio.ensure_future(_submit(intake, world, small, _body(alias_event("b0"))))
        await asyncio.sleep(0)  # it is queued now
        release.set()
        answers = await asyncio.gather(*bigs, late)
        return [status for status, _ in answers]

    assert asyncio.run(main()) == [202] * 4
    assert turns == [[big], [small], [big], [big]]


class _Clock:
    """The intake's own clock (`api.time`), moved by the test: how long requests wait
    and turns take, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _timed_turns(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock, seconds: list[float]
) -> tuple[list[Any], list[Any]]:
    """Turn n of the writer begins (`began[n]`), waits for `go[n]`, and takes
    `seconds[n]` by the intake's clock."""
    import threading

    began = [threading.Event() for _ in seconds]
    go = [threading.Event() for _ in seconds]
    real = events.store_many
    numbers = iter(range(len(seconds)))

    def held(db: Any, box: Any, requests: Any, app_url: str) -> Any:
        n = next(numbers)
        began[n].set()
        assert go[n].wait(30)
        clock.now += seconds[n]
        return real(db, box, requests, app_url)

    monkeypatch.setattr(events, "store_many", held)
    return began, go


async def _refusal(answer: Any) -> tuple[int, int, str]:
    with pytest.raises(api.Busy) as busy:
        await answer
    return busy.value.status, busy.value.seconds, busy.value.message


def test_a_key_has_half_the_queue_and_a_request_waiting_a_second_refuses_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bound 10: a key may have 5 events waiting, its own requests sent during its turn
    count; once a queued request has waited over QUEUE_SECONDS, a request that would
    fit is refused 503 too. Every event is counted out once stored."""
    service = world.client.app.state.service
    a, b, c = (basic(w.key)["Authorization"] for w in (world.admin, world.member, world.outsider))
    clock = _Clock()
    monkeypatch.setattr(api, "time", clock)
    began, go = _timed_turns(monkeypatch, clock, [0.0, 0.0, 0.0])
    go[1].set()
    go[2].set()

    def body(prefix: str, count: int) -> bytes:
        return _body(*(alias_event(f"{prefix}{n}") for n in range(count)))

    async def main() -> tuple[list[Any], list[int], int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", lambda _: None, 10)
        first = asyncio.ensure_future(_submit(intake, world, a, body("a", 3)))
        assert await asyncio.to_thread(began[0].wait, 30)
        own = [  # 3 + 1 + 1 of 5, the next turn of this key
            asyncio.ensure_future(_submit(intake, world, a, body(f"own{n}-", 1))) for n in (1, 2)
        ]
        other = asyncio.ensure_future(_submit(intake, world, b, body("b", 3)))  # 8 of 10
        await asyncio.sleep(0)
        refused = [await _refusal(_submit(intake, world, a, body("x", 1)))]  # 5 + 1 > 5
        clock.now += api.QUEUE_SECONDS + 0.5  # `own` and `other` have waited 1.5 s
        refused.append(await _refusal(_submit(intake, world, c, body("y", 1))))  # 9 of 10
        go[0].set()
        answers = await asyncio.wait_for(asyncio.gather(first, *own, other), 60)
        return refused, [status for status, _ in answers], intake.waiting

    refused, statuses, waiting = asyncio.run(main())
    sizes = (1, 2, 3, 10, 11)
    halves = [api.Intake(service.db, service.box, "", lambda _: None, n).user_bound for n in sizes]
    assert halves == [1, 1, 1, 5, 5]
    assert refused == [
        (429, 1, "too many events waiting to be stored for this key (5)"),
        (503, 1, "the server is storing other events (8 waiting)"),
    ]
    assert (statuses, waiting) == ([202] * 4, 0)
    # The key's requests sent during its turn wait for the next round: the other key,
    # which arrived after them, goes first.
    assert _stored(world) == ["a0", "a1", "a2", "b0", "b1", "b2", "own1-0", "own2-0"]


def test_retry_after_is_the_wait_at_the_last_turns_rate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first turn stores 2 events in 0.5 s (4 a second): 9 events waiting are 3 s
    ahead, 4 of one key's 1 s. A turn that took no time leaves the rate as it was (and
    the writer goes on to the next turn)."""
    service = world.client.app.state.service
    a, b, c = (basic(w.key)["Authorization"] for w in (world.admin, world.member, world.outsider))
    clock = _Clock()
    monkeypatch.setattr(api, "time", clock)
    began, go = _timed_turns(monkeypatch, clock, [0.5, 0.0, 0.0])
    go[0].set()
    go[2].set()

    def body(prefix: str, count: int) -> bytes:
        return _body(*(alias_event(f"{prefix}{n}") for n in range(count)))

    async def main() -> tuple[list[Any], list[int], int]:
        intake = api.Intake(service.db, service.box, "https://wandb.ai", lambda _: None, 10)
        assert (await _submit(intake, world, a, body("a", 2)))[0] == 202
        second = asyncio.ensure_future(_submit(intake, world, b, body("b", 5)))
        assert await asyncio.to_thread(began[1].wait, 30)
        third = asyncio.ensure_future(_submit(intake, world, a, body("c", 4)))  # 9 of 10
        await asyncio.sleep(0)
        refused = [await _refusal(_submit(intake, world, c, body("y", 2)))]  # 9 + 2 > 10
        refused.append(await _refusal(_submit(intake, world, a, body("x", 2))))  # 4 + 2 > 5
        go[1].set()  # the second turn takes no time: the rate stays, the third turn goes on
        answers = await asyncio.wait_for(asyncio.gather(second, third), 60)
        return refused, [status for status, _ in answers], intake.waiting

    refused, statuses, waiting = asyncio.run(main())
    assert refused == [
        (503, 3, "the server is storing other events (9 waiting)"),
        (429, 1, "too many events waiting to be stored for this key (4)"),
    ]
    assert (statuses, waiting) == ([202, 202], 0)


def test_a_turn_renders_with_the_apps_url_and_a_fault_fails_only_its_own_requests(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${run_url}` names the intake's app URL; a fault of the server's while a turn is
    stored is that turn's requests' error, and the next turn is stored."""
    run_url_automation(world)
    service = world.client.app.state.service
    key = basic(world.admin.key)["Authorization"]
    real = events.store_many
    faults = iter([KeyError("a fault of the server's")])

    def faulty(db: Any, box: Any, requests: Any, app_url: str) -> Any:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        return real(db, box, requests, app_url)

    monkeypatch.setattr(events, "store_many", faulty)
    handed: list[outbox.Due] = []

    async def main() -> tuple[str, int]:
        intake = api.Intake(service.db, service.box, "https://app.example/", handed.extend)
        with pytest.raises(KeyError) as fault:
            await _submit(intake, world, key, _body(failed_run("f0", "r0")))
        answer = _submit(intake, world, key, _body(failed_run("f1", "r1")))
        status, _ = await asyncio.wait_for(answer, 60)
        return str(fault.value), status

    assert asyncio.run(main()) == ('"a fault of the server\'s"', 202)
    assert [json.loads(due.body) for due in handed] == [
        {"run": "https://app.example/acme/vision/runs/r1"}
    ]


def test_the_events_route_links_runs_on_wandb_ai(world: World) -> None:
    """The server's events route: stored, answered, and rendered with W&B's app URL."""
    run_url_automation(world)
    answer = emit(world, failed_run("f1", "r1"))
    assert (answer.status_code, answer.json()) == (
        202,
        {"events": [{"id": "f1", "automations": ["failures"]}]},
    )
    listed = world.client.request("GET", "/api/v1/deliveries", headers=basic(world.admin.key))
    (delivery,) = listed.json()["deliveries"]
    assert json.loads(delivery["body"]) == {"run": "https://wandb.ai/acme/vision/runs/r1"}
