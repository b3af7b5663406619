"""R4 (schedule, final failure, re-send by hand) and R8 (every attempt recorded, per
automation, bodies masked), through `GET /api/v1/deliveries`."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile.runtime import schedule
from reconcile.server.app import create_app
from reconcile.server.runtime import worker as worker_module
from tests.server.helpers import InProcess, World, basic, build_world, webhook
from tests.server.live import running
from tests.server.runtime.receiver import RETRY_AFTER, Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
    run_until,
    wait_until,
)

SCALE = 0.01


def _history(world: World, key: str | None = None, **filters: str) -> Any:
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params=filters, headers=basic(key or world.admin.key)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def test_retry_after_is_honoured_then_delivered(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/429-once"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("r4"))
    assert drain(world) == 0
    (delivery,) = _history(world, automation="promote")
    first, second = delivery["attempts"]
    assert (first["status"], first["error"]) == (429, "status")
    assert (second["status"], second["error"]) == (200, None)
    # The nominal first delay (5 s, +-20 %) is shorter than Retry-After (7 s): both scaled.
    gap = _seconds(second["at"]) - _seconds(first["at"])
    assert gap >= RETRY_AFTER * SCALE - 0.002


def test_a_final_failure_is_recorded_and_can_be_sent_again_by_hand(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/404"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("gone"))
    assert drain(world) == 0
    (failed,) = _history(world, status="failed")
    assert [a["status"] for a in failed["attempts"]] == [404]  # a 404 is not retried
    number = failed["id"]
    refused = world.client.post(
        f"/api/v1/deliveries/{number}/resend", headers=basic(world.member.key)
    )
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        403,
        "permission denied: only admins of team acme can re-send deliveries",
    )
    # To someone outside the team, the delivery does not exist (not even its team).
    hidden = world.client.post(
        f"/api/v1/deliveries/{number}/resend", headers=basic(world.outsider.key)
    )
    assert (hidden.status_code, hidden.json()["error"]["message"]) == (
        404,
        f"delivery {number} not found",
    )
    again = world.client.post(f"/api/v1/deliveries/{number}/resend", headers=basic(world.admin.key))
    assert (again.status_code, again.json()) == (
        202,
        {"delivery": number, "status": "pending", "was": "failed"},
    )
    assert _history(world, status="pending")[0]["id"] == number
    assert drain(world) == 0
    assert len(receiver.requests) == 2
    one, two = receiver.requests
    assert one.body == two.body
    assert one.headers["webhook-id"] == two.headers["webhook-id"]
    (after,) = _history(world, status="failed")
    assert [a["status"] for a in after["attempts"]] == [404, 404]
    delivered = world.client.post(
        f"/api/v1/deliveries/{number + 1}/resend", headers=basic(world.admin.key)
    )
    assert delivered.status_code == 404


def test_a_resend_by_hand_wakes_the_running_worker(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing woken, the worker looks at the outbox once an hour here: only the resend's
    # wake-up can send the delivery again before the wait's bound.
    monkeypatch.setattr(worker_module, "POLL", 3600.0)
    db = tmp_path / "server.db"
    app = create_app(db)
    try:
        world = build_world(InProcess(app))
        alias_automation(
            world.admin, world.project_id, hook_with_secrets(world, receiver.url("/404"))
        )
    finally:
        app.state.service.close()
    admin = basic(world.admin.key)
    with running(db, allow_delivery_to=("127.0.0.1",)) as live, httpx.Client() as http:
        events = {"events": [alias_event("gone")]}
        assert http.post(f"{live.url}/api/v1/events", json=events, headers=admin).status_code == 202

        def failed() -> list[Any]:
            listed = http.get(f"{live.url}/api/v1/deliveries?status=failed", headers=admin)
            return list(listed.json()["deliveries"])

        assert wait_until(lambda: len(failed()) == 1)
        number = failed()[0]["id"]
        again = http.post(f"{live.url}/api/v1/deliveries/{number}/resend", headers=admin)
        assert again.status_code == 202
        assert wait_until(lambda: len(receiver.requests) == 2)
        assert wait_until(lambda: [a["status"] for a in failed()[0]["attempts"]] == [404, 404])


def _attempted(world: World, number: int) -> bool:
    """Whether delivery `number` has recorded `number` attempts and is settled for now."""
    with world.db.read() as con:
        (count,) = con.execute("SELECT COUNT(*) FROM attempts").fetchone()
    return bool(count == number)


def _row(world: World) -> tuple[str, int, float | None, float]:
    with world.db.read() as con:
        row = con.execute("SELECT status, attempts, first_at, next_at FROM deliveries").fetchone()
    return row["status"], row["attempts"], row["first_at"], row["next_at"]


def test_the_give_up_limit_counts_from_the_first_attempt_and_a_resend_starts_afresh(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real-time delays, never waited for: a retry's wait is read from the row, and how
    # late the worker records it on a busy machine is small beside the steps told apart.
    monkeypatch.setenv(schedule.SCALE_ENV, "1")
    hook = hook_with_secrets(world, receiver.url("/down"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("late"))
    # As if its first attempt had been made a whole give-up period ago (a retry's wait
    # is at least 4 s): this failure is the last.
    first = time.time() - schedule.GIVE_UP_AFTER
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET first_at = ?", (first,))
    assert run_until(world, lambda: _attempted(world, 1), 120.0)
    assert _row(world)[:3] == ("failed", 1, first)
    (number,) = [d["id"] for d in _history(world)]
    sent = world.client.post(f"/api/v1/deliveries/{number}/resend", headers=basic(world.admin.key))
    assert sent.status_code == 202
    assert _row(world)[:3] == ("pending", 0, None)  # a fresh schedule: no attempt counts
    assert run_until(world, lambda: _attempted(world, 2), 120.0)
    status, attempts, first_at, next_at = _row(world)
    assert (status, attempts) == ("pending", 1)  # retried, on the first step of the schedule
    (_, again) = _history(world)[0]["attempts"]
    started = _seconds(again["at"])
    assert first_at == pytest.approx(started, abs=0.001)
    # The first retry waits 5 s (+-20 %); a second would wait 15 s (+-20 %: 12 s at least).
    wait = next_at - started
    assert 4.0 <= wait < 12.0, wait


def test_a_delivered_delivery_is_not_sent_again_by_hand(world: World, receiver: Receiver) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    emit(world, alias_event("done"))
    assert drain(world) == 0
    (number,) = [d["id"] for d in _history(world, status="delivered")]
    again = world.client.post(f"/api/v1/deliveries/{number}/resend", headers=basic(world.admin.key))
    assert (again.status_code, again.json()["error"]["message"]) == (
        400,
        f"delivery {number} is delivered, not failed or pending: nothing to re-send",
    )
    assert drain(world) == 0
    assert len(receiver.requests) == 1


def test_a_delivery_that_could_not_be_made_is_not_sent_again_by_hand(
    world: World, receiver: Receiver
) -> None:
    """Its row seals no request: sent again, it once stopped the worker for good (the
    claim could not open it), and no delivery went out after it."""
    bare = webhook(world.admin, "bare", urlEndpoint=receiver.url("/ok"))  # no access token
    alias_automation(world.admin, world.project_id, bare, "broken")  # uses ${ACCESS_TOKEN}
    emit(world, alias_event("unmade"))
    (number,) = [d["id"] for d in _history(world, status="failed")]
    again = world.client.post(f"/api/v1/deliveries/{number}/resend", headers=basic(world.admin.key))
    assert (again.status_code, again.json()["error"]["message"]) == (
        400,
        f"delivery {number} was never sent: it could not be made (its attempt says why)",
    )
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    emit(world, alias_event("next"))
    assert drain(world) == 0
    assert sorted((d["automation"], d["status"]) for d in _history(world)) == [
        ("broken", "failed"),
        ("broken", "failed"),
        ("promote", "delivered"),
    ]
    assert len(receiver.requests) == 1


def test_every_attempt_is_recorded_per_automation_with_secrets_masked(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/flaky"))
    alias_automation(world.admin, world.project_id, hook, "promote")
    alias_automation(world.admin, world.project_id, hook, "other", pattern="^never$")
    emit(world, alias_event("r8"))
    left = drain(world)
    with world.db.read() as con:
        rows = [
            tuple(r)
            for r in con.execute("SELECT id, status, attempts, next_at, endpoint FROM deliveries")
        ]
    import time

    assert left == 0, (rows, time.time(), receiver.attempts)
    assert _history(world, automation="other") == []
    (delivery,) = _history(world, automation="promote", entity="acme")
    assert delivery["status"] == "delivered"
    assert delivery["event"] == {"id": "r8", "type": "alias_added"}
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [
        (500, "status"),
        (200, None),
    ]
    assert all(a["duration"] >= 0 and a["at"] for a in delivery["attempts"])
    assert delivery["body"] == '{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"***"}'
    # The 500's answer echoed the token; the stored excerpt does not.
    assert delivery["attempts"][0]["excerpt"] == "boom Bearer ***"
    names = [name.lower() for name, _ in delivery["attempts"][0]["headers"]]
    assert names == ["content-type", "webhook-id", "webhook-timestamp"]


def test_deliveries_need_a_key_and_membership(world: World) -> None:
    assert world.client.request("GET", "/api/v1/deliveries").status_code == 401
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params={"entity": "acme"}, headers=basic(world.outsider.key)
    )
    assert answer.status_code == 404
    bad = world.client.request(
        "GET", "/api/v1/deliveries", params={"status": "lost"}, headers=basic(world.admin.key)
    )
    assert bad.status_code == 400


@pytest.fixture(autouse=True)
def _scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", str(SCALE))


def test_history_shows_a_webhooks_endpoint_not_its_path_or_query(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok/T0CANARY?token=url-canary-value"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("hidden-url"))
    assert drain(world) == 0
    (delivery,) = _history(world, automation="promote")
    assert delivery["url"] == f"http://127.0.0.1:{receiver.port}/***"
    assert delivery["status"] == "delivered"
    assert [r.path for r in receiver.requests] == ["/ok/T0CANARY?token=url-canary-value"]
    shown = str(_history(world))
    assert "url-canary-value" not in shown
    assert "T0CANARY" not in shown


def _page(world: World, **params: str) -> Any:
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params=params, headers=basic(world.admin.key)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _five_deliveries(world: World) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, "https://a.example"))
    for number in range(5):
        assert emit(world, alias_event(f"p{number}")).status_code == 202


def test_deliveries_come_in_pages_newest_first(world: World) -> None:
    _five_deliveries(world)
    first = _page(world, limit="2")
    second = _page(world, limit="2", cursor=first["next"])
    last = _page(world, limit="2", cursor=second["next"])
    pages = [[d["event"]["id"] for d in page["deliveries"]] for page in (first, second, last)]
    assert pages == [["p4", "p3"], ["p2", "p1"], ["p0"]]
    assert (first["next"], second["next"], last["next"]) == (
        str(first["deliveries"][-1]["id"]),
        str(second["deliveries"][-1]["id"]),
        None,
    )
    assert _page(world, limit="5")["next"] is None


def test_a_page_ends_once_it_holds_enough_bytes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconcile.server.runtime import history

    _five_deliveries(world)
    (size,) = {len(d["body"]) for d in _page(world)["deliveries"]}
    monkeypatch.setattr(history, "PAGE_BYTES", 2 * size)  # two bodies fill a page
    first = _page(world, limit="1000")
    assert [d["event"]["id"] for d in first["deliveries"]] == ["p4", "p3"]
    monkeypatch.setattr(history, "PAGE_BYTES", 1)  # one body overfills it: one per page
    assert [d["event"]["id"] for d in _page(world, limit="1000")["deliveries"]] == ["p4"]


@pytest.mark.parametrize(
    "cursor", ["", "abc", "-1", "0", "1.5", "\u0663", str(2**63), "9" * 40, " 7"]
)
def test_a_cursor_the_server_never_gave_is_400(world: World, cursor: str) -> None:
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params={"cursor": cursor}, headers=basic(world.admin.key)
    )
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "cursor must be the `next` of a page this server answered",
    )


@pytest.mark.parametrize("limit", ["0", "1001", "\u0663", "-5", "1e3", "9" * 40])
def test_a_limit_out_of_range_is_400(world: World, limit: str) -> None:
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params={"limit": limit}, headers=basic(world.admin.key)
    )
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "limit must be a whole number from 1 to 1000",
    )


def test_a_pending_delivery_shows_its_schedule_and_is_sent_now_by_hand(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("later"))
    later = datetime.now().timestamp() + 3600  # as a retry an hour away would be
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET next_at = ?", (later,))
    (pending,) = _history(world, status="pending")
    assert (pending["attempts_left"], pending["give_up_at"]) == (15, None)
    assert abs(_seconds(pending["next_attempt_at"]) - later) < 0.002
    again = world.client.post(
        f"/api/v1/deliveries/{pending['id']}/resend", headers=basic(world.admin.key)
    )
    assert again.status_code == 202
    assert again.json() == {"delivery": pending["id"], "status": "pending", "was": "pending"}
    assert _seconds(_history(world, status="pending")[0]["next_attempt_at"]) < later - 3000
    assert drain(world) == 0
    assert len(receiver.requests) == 1
    (done,) = _history(world, status="delivered")
    assert (done["next_attempt_at"], done["attempts_left"], done["give_up_at"]) == (None, 0, None)
