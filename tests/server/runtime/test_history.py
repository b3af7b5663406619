"""History read straight from the store: each delivery whole with its attempts and what
is left of its schedule, the filters and pages of `GET /api/v1/deliveries`, and the
refusals of a resend by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconcile.runtime import schedule
from reconcile.runtime.sender import Outcome
from reconcile.server.errors import ApiError, InvalidInput, NotFound
from reconcile.server.runtime import history, outbox
from reconcile.server.store import teams
from tests.server.helpers import TEAM, World, basic
from tests.server.runtime.support import SECRET, TOKEN, alias_automation, queued_by
from tests.server.runtime.support import hook_with_secrets as _hook

URL = "http://127.0.0.1:9/hooks/h?k=v"
ENDPOINT = "http://127.0.0.1:9"
SHOWN = '{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"***"}'
STARTED = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z
SCALE = 0.01  # the runtime tests' time scale (conftest)


def _settle(world: World, *attempts: outbox.Attempt) -> None:
    with world.db.write() as con:
        outbox.settle_all(con, list(attempts))


def _query(world: World, key: str | None = None, **params: str) -> history.Page:
    return history.query(world.db, basic(key or world.admin.key)["Authorization"], params)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _event_ids(page: history.Page) -> list[str]:
    return [d["event"]["id"] for d in page.deliveries]


def test_a_delivery_is_shown_whole_with_its_attempts_and_what_is_left_of_its_schedule(
    world: World,
) -> None:
    alias_automation(world.admin, world.project_id, _hook(world, URL))
    (due,) = queued_by(world, "h1")
    failed = Outcome(500, 0.25, "status", f"said {TOKEN}", f"echo {SECRET}", received=9)
    _settle(world, outbox.Attempt(due, STARTED, failed, [("webhook-id", "msg_1")], 30.0))
    with world.db.read() as con:
        row = con.execute("SELECT next_at, created_at FROM deliveries").fetchone()
    page = _query(world)
    assert page == history.Page(
        [
            {
                "id": due.id,
                "entity": TEAM,
                "automation": "promote",
                "event": {"id": "h1", "type": "alias_added"},
                "action": "webhook",
                "url": "http://127.0.0.1:9/***",
                "webhook_id": due.webhook_id,
                "status": "pending",
                "body": SHOWN,
                "created_at": row["created_at"],
                "next_attempt_at": _stamp(row["next_at"]),
                "attempts_left": schedule.MAX_ATTEMPTS - 1,
                "give_up_at": _stamp(STARTED + schedule.GIVE_UP_AFTER * SCALE),
                "attempts": [
                    {
                        "at": "2023-11-14T22:13:20.250+00:00",
                        "duration": 0.25,
                        "status": 500,
                        "error": "status",
                        "detail": "said ***",
                        "excerpt": "echo ***",
                        "headers": [["webhook-id", "msg_1"]],
                    }
                ],
            }
        ],
        None,
    )
    _settle(world, outbox.Attempt(due, STARTED + 5, Outcome(200, 0.5), [], None))
    (delivered,) = _query(world).deliveries
    assert (delivered["status"], [a["status"] for a in delivered["attempts"]]) == (
        "delivered",
        [500, 200],
    )
    assert [delivered[k] for k in ("next_attempt_at", "attempts_left", "give_up_at")] == [
        None,
        0,
        None,
    ]


def test_what_is_left_of_a_schedule_counts_from_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert history.retries("pending", 0, STARTED, None) == {
        "next_attempt_at": "2023-11-14T22:13:20.250+00:00",
        "attempts_left": schedule.MAX_ATTEMPTS,
        "give_up_at": None,  # no attempt started yet: the day has not begun
    }
    assert history.retries("pending", schedule.MAX_ATTEMPTS - 1, STARTED, 100.0) == {
        "next_attempt_at": "2023-11-14T22:13:20.250+00:00",
        "attempts_left": 1,
        "give_up_at": _stamp(100.0 + schedule.GIVE_UP_AFTER * SCALE),
    }
    assert (
        history.retries("pending", schedule.MAX_ATTEMPTS + 2, STARTED, 100.0)["attempts_left"] == 0
    )
    for status in ("failed", "delivered"):
        assert history.retries(status, 1, STARTED, 100.0) == {
            "next_attempt_at": None,
            "attempts_left": 0,
            "give_up_at": None,
        }
    monkeypatch.setenv(schedule.SCALE_ENV, "not a number")  # the worker refuses it: 1 here
    assert history.retries("pending", 1, STARTED, 100.0)["give_up_at"] == _stamp(
        100.0 + schedule.GIVE_UP_AFTER
    )


def _five(world: World) -> list[outbox.Due]:
    """Deliveries of events p0 to p4 by `promote`, oldest first."""
    alias_automation(world.admin, world.project_id, _hook(world, URL))
    queued = queued_by(world, "p0", "p1", "p2", "p3", "p4")
    assert len(queued) == 5
    return queued


def test_history_narrows_to_an_automation_a_status_and_a_team(world: World) -> None:
    dues = _five(world)
    _settle(
        world,
        outbox.Attempt(dues[1], STARTED, Outcome(200, 0.1), [], None),
        outbox.Attempt(dues[3], STARTED, Outcome(404, 0.1, "status"), [], None),
    )
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET automation = 'other' WHERE id = ?", (dues[4].id,))
    assert _event_ids(_query(world)) == ["p4", "p3", "p2", "p1", "p0"]
    assert _event_ids(_query(world, automation="promote")) == ["p3", "p2", "p1", "p0"]
    assert _event_ids(_query(world, status="pending")) == ["p4", "p2", "p0"]
    assert _event_ids(_query(world, automation="promote", status="pending")) == ["p2", "p0"]
    assert _event_ids(_query(world, status="failed", entity=TEAM)) == ["p3"]
    assert _event_ids(_query(world, automation="none")) == []
    # Another team's deliveries are its own: shown to its members, not to acme's.
    with world.db.write() as con:
        other = teams.find_team(con, "other")
        assert other is not None
        con.execute("UPDATE deliveries SET entity_id = ? WHERE id = ?", (other.id, dues[0].id))
        acme = teams.find_team(con, TEAM)
        assert acme is not None
        both = history.deliveries(con, [acme.id, other.id], history.Filters(limit=1000))
        assert [d["entity"] for d in both.deliveries] == [TEAM] * 4 + ["other"]
        assert history.deliveries(con, []) == history.Page([], None)
    assert _event_ids(_query(world)) == ["p4", "p3", "p2", "p1"]
    assert _event_ids(_query(world, world.outsider.key)) == ["p0"]
    with pytest.raises(NotFound, match=r"^entity 'acme' not found$"):
        _query(world, world.outsider.key, entity=TEAM)
    with pytest.raises(NotFound, match=r"^entity 'nowhere' not found$"):
        _query(world, entity="nowhere")


def test_pages_end_at_their_limit_or_their_bytes_and_the_cursor_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    dues = _five(world)
    ids = [d.id for d in dues]
    assert _query(world, limit="5") == history.Page(_query(world).deliveries, None)
    first = _query(world, limit="4")
    assert (_event_ids(first), first.next) == (["p4", "p3", "p2", "p1"], str(ids[1]))
    rest = _query(world, limit="4", cursor=first.next or "")
    assert (_event_ids(rest), rest.next) == (["p0"], None)
    assert _event_ids(_query(world, cursor=str(ids[3]))) == ["p2", "p1", "p0"]
    assert _event_ids(_query(world, limit="1", cursor="0" * 18 + str(ids[4]))) == ["p3"]
    assert _event_ids(_query(world, limit="0001")) == ["p4"]
    assert len(_query(world, limit="1000").deliveries) == 5
    assert _query(world, cursor=str(2**63 - 1)).deliveries == _query(world).deliveries
    assert _query(world, cursor="1") == history.Page([], None)  # older than the first
    # The bytes count a body and its attempts' excerpts: here the newest is a page alone.
    answer = Outcome(500, 0.1, "status", excerpt="e" * 10, received=10)
    _settle(world, outbox.Attempt(dues[4], STARTED, answer, [], 30.0))
    monkeypatch.setattr(history, "PAGE_BYTES", len(SHOWN) + 10)
    page = _query(world, limit="1000")
    assert (_event_ids(page), page.next) == (["p4"], str(ids[4]))
    monkeypatch.setattr(history, "PAGE_BYTES", len(SHOWN) + 11)
    assert _event_ids(_query(world, limit="1000")) == ["p4", "p3"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "lost"}, "status must be one of pending, delivered, failed, not 'lost'"),
        ({"limit": "1001"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": "0" * 20 + "1"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": ""}, "limit must be a whole number from 1 to 1000"),
        ({"cursor": "0" * 19 + "7"}, "cursor must be the `next` of a page this server answered"),
        ({"cursor": str(2**63)}, "cursor must be the `next` of a page this server answered"),
    ],
)
def test_a_bad_filter_is_refused_with_what_it_must_be(
    world: World, params: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _query(world, **params)
    assert str(refused.value) == message


def test_a_resend_by_hand_is_refused_with_why(world: World) -> None:
    dues = _five(world)
    _settle(world, outbox.Attempt(dues[0], STARTED, Outcome(200, 0.1), [], None))
    with world.db.write() as con:  # failed before any attempt: with no URL, or unmade
        sql = "UPDATE deliveries SET status = 'failed', url = ?, endpoint = ? WHERE id = ?"
        con.execute(sql, ("", "", dues[1].id))
        con.execute(sql, ("http://127.0.0.1:9/***", ENDPOINT, dues[4].id))
    auth = basic(world.admin.key)["Authorization"]
    delivered, nowhere, unmade = dues[0].id, dues[1].id, dues[4].id
    refusals = {
        delivered: f"delivery {delivered} is delivered, not failed or pending: nothing to re-send",
        nowhere: f"delivery {nowhere} was never sent: it has nowhere to go",
        unmade: f"delivery {unmade} was never sent: it could not be made (its attempt says why)",
        10_000: "delivery 10000 not found",
    }
    for number, message in refusals.items():
        with pytest.raises(ApiError) as refused:
            history.resend(world.db, auth, number)
        assert str(refused.value) == message
    assert history.resend(world.db, auth, dues[2].id) == "pending"
    with world.db.write() as con:  # an admin command's resend: no user to check
        assert history.resend_as(con, None, dues[3].id) == "pending"
        with pytest.raises(NotFound, match=r"^delivery 10000 not found$"):
            history.resend_as(con, None, 10_000)
