"""The worker's own decisions, read without sending: what it is built with, when a
failed attempt is due again (the give-up limit counts from the first attempt), how much
it claims per endpoint, and what it remembers of settled deliveries."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import pytest

from reconcile.runtime import schedule, signing
from reconcile.runtime.addresses import Policy
from reconcile.runtime.sender import Limits, Outcome
from reconcile.server.runtime import outbox, worker
from reconcile.server.runtime.worker import Worker
from tests.server.helpers import World, trigger_input, webhook
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    DRAIN_BOUND,
    SECRET,
    TOKEN,
    alias_automation,
    hook_with_secrets,
    queued_by,
)
from tests.server.runtime.support import worker as support_worker

URL = "http://127.0.0.1:9/hooks/w"
ENDPOINT = "http://127.0.0.1:9"
OTHER = "http://127.0.0.1:10"
CREATE_TRIGGER = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""


def _worker(world: World, **kw: object) -> Worker:
    service = world.client.app.state.service
    return Worker(service.db, service.box, **kw)  # type: ignore[arg-type]


def test_a_worker_is_built_with_the_policy_limits_and_time_scale_it_is_given(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Policy.of(("10.0.0.0/8",), anywhere=True)
    given = _worker(world, allow=own, env={schedule.SCALE_ENV: "0.5"})
    assert given.sender.policy is own
    assert given.sender.limits == Limits(deadline=schedule.DEADLINE * 0.5)
    assert (given.scale, given.per_endpoint, given.depth) == (0.5, 16, 64)
    listed = _worker(world, allow=("127.0.0.1",), env={}, per_endpoint=3, limits=Limits(2.0))
    assert listed.sender.policy == Policy.of(("127.0.0.1",))
    assert listed.sender.limits == Limits(2.0)
    assert (listed.scale, listed.per_endpoint, listed.depth) == (1.0, 3, 12)
    monkeypatch.setenv(schedule.SCALE_ENV, "0.25")  # no env given: the process's
    environ = _worker(world)
    assert environ.sender.limits == Limits(deadline=schedule.DEADLINE * 0.25)
    assert environ.scale == 0.25


@pytest.fixture
def due_now() -> outbox.Due:
    return outbox.Due(1, URL, ENDPOINT, "msg_1", b"{}", signing.Credentials())


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.5)  # the nominal delay exactly


STARTED = 100_000.0
FAILED = Outcome(500, 0.1, "status")


@pytest.mark.usefixtures("no_jitter")
def test_a_failed_attempt_is_due_again_on_the_schedule_until_a_day_after_the_first(
    world: World, due_now: outbox.Due
) -> None:
    real = _worker(world, env={})
    assert real._delay(due_now, STARTED, FAILED) == schedule.FIRST_DELAY
    assert real._delay(replace(due_now, attempts=2), STARTED, FAILED) == 45.0
    waited = Outcome(429, 0.1, "status", retry_after=7.0)
    assert real._delay(due_now, STARTED, waited) == 7.0
    assert real._delay(due_now, STARTED, Outcome(None, 0.1, "connect")) == 5.0
    assert real._delay(due_now, STARTED, Outcome(200, 0.1)) is None
    assert real._delay(due_now, STARTED, Outcome(404, 0.1, "status")) is None
    last = replace(due_now, attempts=schedule.MAX_ATTEMPTS - 1)
    assert real._delay(last, STARTED, FAILED) is None
    # The day counts from the first attempt: a retry may start at its very end, not after.
    day = schedule.GIVE_UP_AFTER
    in_time = replace(due_now, attempts=1, first_at=STARTED - (day - 15.0))
    assert real._delay(in_time, STARTED, FAILED) == 15.0
    late = replace(in_time, first_at=STARTED - (day - 14.0))
    assert real._delay(late, STARTED, FAILED) is None
    scaled = _worker(world, env={schedule.SCALE_ENV: "0.5"})
    assert scaled._delay(due_now, STARTED, FAILED) == 2.5


def _two_endpoints(world: World, events_count: int) -> list[outbox.Due]:
    """Deliveries of `events_count` events to URL and as many to another endpoint."""
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    other = webhook(world.admin, "other", urlEndpoint=f"{OTHER}/x")
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, other, name="elsewhere"))
    return queued_by(world, *(f"c{n}" for n in range(events_count)))


def test_a_claim_fills_each_endpoints_room_and_says_when_more_may_be_due(world: World) -> None:
    queued = _two_endpoints(world, 6)
    ids = [d.id for d in queued if d.endpoint == ENDPOINT]
    others = [d.id for d in queued if d.endpoint == OTHER]
    one = _worker(world, per_endpoint=1)  # room for 4 rows queued or in flight
    claimed, backlog = one._claim()
    assert (sorted(d.id for d in claimed), backlog) == (
        sorted(ids[:4] + others[:4]),
        {ENDPOINT, OTHER},
    )
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET status = 'delivered' WHERE endpoint = ?", (OTHER,))
    one.in_flight[ENDPOINT] = set(ids[:2])
    claimed, backlog = one._claim()
    assert ([d.id for d in claimed], backlog) == (ids[2:4], {ENDPOINT})
    one.in_flight[ENDPOINT] = set(ids[:3])
    claimed, backlog = one._claim()
    assert ([d.id for d in claimed], backlog) == ([ids[3]], {ENDPOINT})
    one.in_flight[ENDPOINT] = set(ids[:4])
    assert one._claim() == ([], {ENDPOINT})
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET status = 'delivered' WHERE id IN (?, ?)", ids[4:])
    claimed, backlog = one._claim()
    assert (claimed, backlog) == ([], {ENDPOINT})  # full: it cannot know there is no more
    one.in_flight[ENDPOINT] = {ids[0]}
    claimed, backlog = one._claim()
    assert ([d.id for d in claimed], backlog) == (ids[1:4], {ENDPOINT})  # exactly its room
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET status = 'delivered' WHERE id = ?", (ids[3],))
    claimed, backlog = one._claim()
    assert ([d.id for d in claimed], backlog) == (ids[1:3], set())  # room left over
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET next_at = ?", (time.time() + 3600,))
    assert _worker(world)._claim() == ([], set())  # nothing due yet


def test_a_hand_over_without_room_is_left_for_a_claim_and_one_to_no_worker_is_dropped(
    world: World,
) -> None:
    queued = _two_endpoints(world, 1)

    async def main() -> None:
        running = _worker(world, per_endpoint=1)
        running.hand_over(queued)  # not running: the outbox keeps them
        assert (running.queues, running._backlog, running._wake.is_set()) == ({}, set(), False)
        running._loop = asyncio.get_running_loop()
        running.in_flight = {ENDPOINT: {-1, -2, -3, -4}, OTHER: {-5, -6, -7, -8}}  # full
        running.hand_over(queued[:1])  # on the worker's loop: taken over at once
        assert (running._backlog, running._wake.is_set()) == ({queued[0].endpoint}, True)
        running._wake.clear()
        await asyncio.to_thread(running.hand_over, queued[1:])  # from another thread
        await asyncio.sleep(0)
        assert (running._backlog, running._wake.is_set()) == ({ENDPOINT, OTHER}, True)
        running._backlog, running._stopping = set(), True
        running._wake.clear()
        running.hand_over(queued)  # stopping: the outbox keeps them for the next start
        assert (running._backlog, running._wake.is_set(), running.queues) == (set(), False, {})

    asyncio.run(main())


def test_a_settlement_is_remembered_for_a_while_then_forgotten(world: World) -> None:
    running = _worker(world)
    now = time.monotonic()
    old, recent = now - worker.SETTLED_MEMORY - 1, now - worker.SETTLED_MEMORY + 30
    running._settled = {1: old, 2: now, 3: recent}
    # Delivery 2 was settled long ago, then again now: only the old entry goes.
    running._settled_order.extend([(old, 1), (old, 2), (recent, 3), (now, 2)])
    running._forget_settled()
    assert running._settled == {2: now, 3: recent}
    assert list(running._settled_order) == [(recent, 3), (now, 2)]


def test_each_attempt_is_sent_signed_at_its_start_and_recorded_without_credentials(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    alias_automation(
        world.admin, world.project_id, hook_with_secrets(world, receiver.url("/flaky"))
    )
    (due,) = queued_by(world, "signed")
    running = support_worker(world)
    before = int(time.time())
    with caplog.at_level("INFO", logger=worker.__name__):
        assert asyncio.run(running.drain(DRAIN_BOUND)) == 0
    after = int(time.time())
    # Nothing left behind: every task ended and was let go, no sender, nothing in flight.
    endpoint = due.endpoint
    left = (running.tasks, running.senders, running.in_flight)
    assert left == (set(), {endpoint: 0}, {endpoint: set()})
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    records = [r for r in caplog.records if r.name == worker.__name__]
    fields = ("delivery", "endpoint", "status", "error", "result")
    assert [(r.levelname, r.getMessage(), *(r.__dict__[f] for f in fields)) for r in records] == [
        ("INFO", "delivery attempt", due.id, endpoint, 500, "status", "pending"),
        ("INFO", "delivery attempt", due.id, endpoint, 200, None, "delivered"),
    ]
    first, second = receiver.requests  # a 500, then retried
    stamps = []
    for got in (first, second):
        stamp = int(got.headers["webhook-timestamp"])
        assert before <= stamp <= after
        assert got.body == due.body
        assert got.headers["authorization"] == f"Bearer {TOKEN}"
        assert got.headers["webhook-id"] == due.webhook_id
        assert signing.verify_wandb(SECRET, got.body, got.headers["x-wandb-signature"])
        signature = signing.standard_signature(SECRET, due.webhook_id, stamp, got.body)
        assert got.headers["webhook-signature"] == signature
        stamps.append(stamp)
    with world.db.read() as con:
        rows = con.execute("SELECT status, headers FROM attempts ORDER BY id").fetchall()
    assert [(r["status"], json.loads(r["headers"])) for r in rows] == [
        (
            status,
            [
                ["Content-Type", "application/json"],
                ["webhook-id", due.webhook_id],
                ["webhook-timestamp", str(stamp)],
            ],
        )
        for status, stamp in zip((500, 200), stamps, strict=True)
    ]


def test_a_delivery_is_queued_once_and_not_when_settled_since_it_was_read(world: World) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    a, b, c, d, e = queued_by(world, *(f"q{n}" for n in range(5)))

    async def main() -> None:
        running = _worker(world, per_endpoint=2)
        running._queue(a)
        running._queue(a)  # in flight already: a claim and a hand-over crossed
        assert (list(running.queues[ENDPOINT]), running.in_flight) == ([a], {ENDPOINT: {a.id}})
        running._queue(b)
        running._queue(c)
        assert list(running.queues[ENDPOINT]) == [a, b, c]
        assert (running.senders, len(running.tasks)) == ({ENDPOINT: 2}, 2)  # its cap
        running._settled = {d.id: d.read_at, e.id: e.read_at - 0.001}
        running._queue(d)  # settled at the moment it was read: stale
        running._queue(e)  # settled before it was read: due again
        assert list(running.queues[ENDPOINT]) == [a, b, c, e]
        assert running.in_flight == {ENDPOINT: {a.id, b.id, c.id, e.id}}
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        await asyncio.sleep(0)  # the tasks' done callbacks
        assert running.tasks == set()

    asyncio.run(main())


def test_an_attempt_that_fails_unexpectedly_is_logged_and_leaves_its_delivery_due(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    (due,) = queued_by(world, "broken")

    async def broken(*_args: object) -> Outcome:
        raise RuntimeError("the sender broke")

    async def main() -> Worker:
        running = _worker(world)
        running.sender.send = broken  # type: ignore[method-assign, assignment]
        running.in_flight[ENDPOINT] = {due.id}
        await running._deliver(due)
        return running

    with caplog.at_level("ERROR", logger=worker.__name__):
        running = asyncio.run(main())
    assert running.in_flight == {ENDPOINT: set()}
    (record,) = [r for r in caplog.records if r.name == worker.__name__]
    assert (record.getMessage(), record.__dict__["delivery"]) == (
        "delivery failed unexpectedly",
        due.id,
    )
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "the sender broke"
    with world.db.read() as con:
        row = con.execute("SELECT status, attempts FROM deliveries").fetchone()
        assert (tuple(row), outbox.pending_count(con)) == (("pending", 0), 1)


def test_a_batch_that_could_not_be_recorded_does_not_stop_the_next(world: World) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    first, second = queued_by(world, "b1", "b2")

    async def main() -> None:
        running = _worker(world)
        loop = asyncio.get_running_loop()
        lost, kept = loop.create_future(), loop.create_future()
        real, calls = running._settle, []

        def settle(attempts: list[outbox.Attempt]) -> None:
            calls.append([a.due.id for a in attempts])
            if len(calls) == 1:  # the next attempt finishes while this batch fails
                running._finished.append((_attempt(second), kept))
                raise sqlite3.OperationalError("disk I/O error")
            real(attempts)

        running._settle = settle  # type: ignore[method-assign]
        running._finished = [(_attempt(first), lost)]
        await running._record_finished()
        assert calls == [[first.id], [second.id]]
        assert isinstance(lost.exception(), sqlite3.OperationalError)
        assert kept.result() is None
        assert list(running._settled) == [second.id]

    asyncio.run(main())
    with world.db.read() as con:
        rows = con.execute("SELECT id, status FROM deliveries ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(first.id, "pending"), (second.id, "delivered")]


def _attempt(due: outbox.Due) -> outbox.Attempt:
    return outbox.Attempt(due, STARTED, Outcome(200, 0.1), [], None)


def test_room_freed_for_an_endpoint_with_more_due_wakes_the_worker_at_once(
    world: World, receiver: Receiver
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    backlogged, alone = queued_by(world, "w1", "w2")

    async def send(due: outbox.Due, backlog: set[str]) -> tuple[bool, int]:
        running = support_worker(world, per_endpoint=1)
        running._backlog = backlog
        running.queues[due.endpoint] = deque([due])
        running.senders[due.endpoint] = 1
        running.in_flight[due.endpoint] = {due.id}
        await running._send_queue(due.endpoint)
        await running.sender.aclose()
        return running._wake.is_set(), running.senders[due.endpoint]

    assert asyncio.run(send(backlogged, {backlogged.endpoint})) == (True, 0)
    assert asyncio.run(send(alone, set())) == (False, 0)  # the next look is soon enough
    assert len(receiver.requests) == 2


async def _until(done: Callable[[], bool]) -> None:
    """Wait until `done()` holds; the bound is against a hang, not a deadline."""
    async with asyncio.timeout(DRAIN_BOUND):
        while not done():
            await asyncio.sleep(0.02)


def test_a_stopped_worker_ends_its_attempts_in_flight_and_closes_its_connections(
    world: World, receiver: Receiver
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/hang")))
    queued_by(world, "hung")

    async def main() -> Worker:
        running = support_worker(world)
        task = asyncio.ensure_future(running.run())
        await _until(lambda: len(receiver.requests) == 1)  # its attempt is in flight
        running.stop()
        await task  # ends at its next look, its senders cancelled and awaited
        await asyncio.sleep(0)  # the tasks' done callbacks
        return running

    running = asyncio.run(main())
    assert (running.tasks, running.sender._pool) == (set(), None)
    with world.db.read() as con:
        row = con.execute("SELECT status, attempts FROM deliveries").fetchone()
    assert tuple(row) == ("pending", 0)  # the outbox sends it again at the next start


def test_drain_answers_how_many_are_still_pending_when_its_time_is_up(world: World) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    queued_by(world, "later")
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET next_at = ?", (time.time() + 3600,))
    assert asyncio.run(_worker(world).drain(0.1)) == 1


def test_wake_makes_a_running_worker_look_now_from_any_thread(world: World) -> None:
    idle = _worker(world)
    idle.wake()  # not running: nothing to wake
    assert not idle._wake.is_set()

    async def main() -> bool:
        running = _worker(world)
        running._loop = asyncio.get_running_loop()
        await asyncio.to_thread(running.wake)
        await asyncio.sleep(0)
        return running._wake.is_set()

    assert asyncio.run(main()) is True
