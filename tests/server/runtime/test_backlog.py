"""A team's delivery backlog bounds its events: past the bound of deliveries due and not
yet sent, the intake answers that team's events 503 with Retry-After, whole batches, and
keeps taking other teams' events; once its receiver catches up, its events go in again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconcile.core.errors import UsageError
from reconcile.server.admin import tasks as admin
from reconcile.server.app import create_app
from reconcile.server.runtime import api, backlog, events
from tests.server.helpers import InProcess, World, basic, build_world, webhook
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    emit,
    hook_with_secrets,
    run_until,
    statuses,
)

BOUND = 3


@pytest.fixture
def bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A team acme and a team other, each with an automation; no worker runs, so every
    delivery stays due and unsent (a receiver that has not been reached) until a test
    runs one."""
    monkeypatch.setenv(backlog.BACKLOG_ENV, str(BOUND))
    app = create_app(tmp_path / "server.db")
    try:
        yield build_world(InProcess(app))
    finally:
        app.state.service.close()


def _lab_event(event_id: str) -> dict[str, Any]:
    return {**alias_event(event_id), "entity": "other", "project": "lab"}


def _automations(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook, "to-acme")
    admin.ensure_project(world.db, "other", "lab")
    lab = world.outsider.ok('{ project(name: "lab", entityName: "other") { id } }')
    world.outsider.ok(
        """mutation { insertSecret(input: {entityName: "other", secretName: "TOKEN",
             secretValue: "lab-token"}) { success } }"""
    )
    other_hook = webhook(
        world.outsider,
        "lab",
        entityName="other",
        urlEndpoint=receiver.url("/ok"),
        accessTokenRef="TOKEN",
    )
    alias_automation(world.outsider, lab["project"]["id"], other_hook, "to-other")


def _event_count(world: World) -> int:
    with world.db.read() as con:
        return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_a_team_past_its_backlog_is_refused_and_others_are_not(
    bounded: World, receiver: Receiver
) -> None:
    world = bounded
    _automations(world, receiver)
    assert emit(world, {"events": [alias_event(f"a{n}") for n in range(3)]}).status_code == 202
    assert emit(world, alias_event("a3")).status_code == 202  # 3 due: not past the bound
    refused = emit(world, alias_event("a4"))
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
    assert refused.json() == {
        "error": {
            "message": "the deliveries of team acme are behind: more than 3 are due and not "
            "yet sent; send its events again after Retry-After seconds"
        }
    }
    # Another team's events go on; a batch with any event of acme is refused whole.
    assert emit(world, _lab_event("o1"), world.outsider.key).status_code == 202
    mixed = {"events": [_lab_event("o2"), alias_event("a5")]}
    assert emit(world, mixed).status_code == 503
    assert _event_count(world) == 5
    assert statuses(world) == {"to-acme": ["pending"] * 4, "to-other": ["pending"]}

    # The receiver is reached: once acme's deliveries are sent, its events go in again.
    def sent() -> bool:
        return statuses(world) == {"to-acme": ["delivered"] * 4, "to-other": ["delivered"]}

    assert run_until(world, sent, 60)
    again = emit(world, alias_event("a4"))
    assert (again.status_code, again.json()) == (
        202,
        {"events": [{"id": "a4", "automations": ["to-acme"]}]},
    )
    assert len(receiver.requests) == 5


def test_only_deliveries_due_now_count(bounded: World, receiver: Receiver) -> None:
    world = bounded
    _automations(world, receiver)
    before = time.time() - 1  # earlier than any delivery's first attempt
    assert emit(world, {"events": [alias_event(f"a{n}") for n in range(4)]}).status_code == 202
    with world.db.read() as con:
        assert backlog.behind(con, ["acme", "other", "nope"], BOUND, at=before) is None
        assert backlog.behind(con, ["other", "nope"], BOUND) is None
        assert backlog.behind(con, ["acme", "other"], BOUND) == backlog.Behind("acme", BOUND)
        assert backlog.behind(con, ["acme"], 4) is None


def test_the_bound_comes_from_the_environment() -> None:
    assert backlog.bound({}) == backlog.BACKLOG_DELIVERIES == 1_000
    assert backlog.bound({backlog.BACKLOG_ENV: "25"}) == 25
    for wrong in ("0", "-3", "many"):
        with pytest.raises(
            UsageError, match=f"^RECONCILE_DELIVERY_BACKLOG='{wrong}': give a whole"
        ):
            backlog.bound({backlog.BACKLOG_ENV: wrong})


@pytest.fixture
def lagging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """As `bounded`, with a count bound that is never reached and a lag bound of 1 ms:
    only how long deliveries have waited can refuse events."""
    monkeypatch.setenv(backlog.BACKLOG_ENV, "100000")
    monkeypatch.setenv(backlog.LAG_ENV, "0.001")
    app = create_app(tmp_path / "server.db")
    try:
        yield build_world(InProcess(app))
    finally:
        app.state.service.close()


def test_a_team_whose_deliveries_wait_past_the_lag_is_refused(
    lagging: World, receiver: Receiver
) -> None:
    world = lagging
    _automations(world, receiver)
    late = backlog.LATE_DELIVERIES
    first = [alias_event(f"a{n}") for n in range(late)]
    assert emit(world, {"events": first}).status_code == 202
    with world.db.read() as con:  # as many late as may be in flight to one endpoint: not behind
        assert backlog.behind(con, ["acme"], 100000, at=time.time() + 60, late=0.001) is None
    assert emit(world, alias_event(f"a{late}")).status_code == 202

    def waited() -> bool:  # the last one has been due for over the lag
        with world.db.read() as con:
            newest = con.execute("SELECT MAX(next_at) FROM deliveries").fetchone()[0]
        return bool(time.time() - newest > 0.001)

    for _ in range(10_000):  # no worker runs: the deliveries only wait
        if waited():
            break
        time.sleep(0.001)
    assert waited()
    with world.db.read() as con:  # due, but not for an hour: only the lag refuses them
        assert backlog.behind(con, ["acme"], 100000, late=3600) is None
    refused = emit(world, alias_event("a-late"))
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
    assert refused.json()["error"]["message"] == (
        f"the deliveries of team acme are behind: more than {late} have waited over "
        "0.001 s to be sent; send its events again after Retry-After seconds"
    )
    assert emit(world, _lab_event("o1"), world.outsider.key).status_code == 202
    assert _event_count(world) == late + 2


def test_the_lag_comes_from_the_environment() -> None:
    assert backlog.lag({}) == backlog.LAG_SECONDS == 0.5
    assert backlog.lag({backlog.LAG_ENV: "0.25"}) == 0.25
    for wrong in ("0", "-3", "soon", "inf", "nan"):
        with pytest.raises(UsageError, match=f"^RECONCILE_DELIVERY_LAG='{wrong}': give a number"):
            backlog.lag({backlog.LAG_ENV: wrong})


def test_the_pace_is_what_was_settled_in_the_last_second() -> None:
    pace = backlog.Pace()
    assert pace.rate(0.0) is None  # nothing settled: no rate to judge by
    pace.note(100, 10.0)
    pace.note(50, 10.5)
    assert pace.rate(10.5) == 150.0
    assert pace.rate(11.2) == 50.0  # the first note is over a second old
    assert pace.rate(11.5) is None


def test_the_pace_is_per_second_whatever_its_window() -> None:
    class HalfSecond(backlog.Pace):
        WINDOW = 0.5

    pace = HalfSecond()
    pace.note(100, 10.0)
    assert pace.rate(10.4) == 200.0  # 100 in half a second
    assert pace.rate(10.5) is None


def test_at_the_recent_rate_more_due_than_it_sends_in_the_lag_refuses(
    bounded: World, receiver: Receiver
) -> None:
    world = bounded
    _automations(world, receiver)
    due = backlog.RATE_FLOOR + 1
    body = {"events": [alias_event(f"a{n}") for n in range(due)]}
    assert emit(world, body).status_code == 202
    with world.db.read() as con:
        at = con.execute("SELECT MAX(next_at) FROM deliveries").fetchone()[0]
        # 201 due; at 10 a second that is 20 s of sending, over the 0.5 s lag; the
        # bound is never under the floor (200).
        assert backlog.behind(con, ["acme"], 100000, at=at, rate=10.0) == backlog.Behind(
            "acme", backlog.RATE_FLOOR, 0.5, 10.0
        )
        assert backlog.behind(con, ["acme"], 100000, at=at, rate=500.0) is None  # 250 in 0.5 s
        # The budget is what it sends in the lag (rate times lag), and only more due
        # than that refuses: 201 due are over 200 (400 a second for 0.5 s), not over 201.
        assert backlog.behind(con, ["acme"], 100000, at=at, rate=400.0) == backlog.Behind(
            "acme", 200, 0.5, 400.0
        )
        assert backlog.behind(con, ["acme"], 100000, at=at, rate=402.0) is None
        assert backlog.behind(con, ["acme"], 100000, at=at) is None  # no rate known
    with pytest.raises(api.Busy) as refused:
        api.check_backlog(world.db, events.prepare(json.dumps(body).encode()), 100000, 0.5, 10.0)
    assert (refused.value.status, refused.value.seconds) == (503, 2)
    assert (
        str(refused.value)
        == refused.value.message
        == (
            "the deliveries of team acme are behind: more than 200 are due and not yet sent, "
            "over 0.5 s at the 10 a second the server sends now; send its events again after "
            "Retry-After seconds"
        )
    )


def test_the_events_route_refuses_at_the_workers_recent_rate(
    world: World, receiver: Receiver
) -> None:
    """The route asks the worker's pace: at 10 a second, 201 due deliveries are over the
    200 the bound never goes under, while the count bound (1,000) is far."""
    from starlette.applications import Starlette

    from reconcile.server.app import _read_body

    _automations(world, receiver)
    due = backlog.RATE_FLOOR + 1
    assert emit(world, {"events": [alias_event(f"a{n}") for n in range(due)]}).status_code == 202
    service = world.client.app.state.service
    paced = api.routes(service.db, service.box, lambda _: None, _read_body, pace=lambda: 10.0)
    refused = InProcess(Starlette(routes=paced)).post(
        "/api/v1/events", json=alias_event("late"), headers=basic(world.admin.key)
    )
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
    assert refused.json()["error"]["message"] == (
        "the deliveries of team acme are behind: more than 200 are due and not yet sent, "
        "over 0.5 s at the 10 a second the server sends now; send its events again after "
        "Retry-After seconds"
    )
