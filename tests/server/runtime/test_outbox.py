"""The outbox: what a delivery is queued with, how it is claimed, settled and sent again,
and what it records of an attempt (an answer's excerpt masked before it is cut)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from reconcile.runtime import signing
from reconcile.runtime.sender import Outcome
from reconcile.server.admin import tasks as admin
from reconcile.server.api.ids import encode_id
from reconcile.server.runtime import events, outbox
from reconcile.server.runtime.outbox import EXCERPT
from tests.runtime.faults import Received
from tests.server.clients import artifact_support as artifacts
from tests.server.helpers import TEAM, World, basic, trigger_input, webhook
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    INSERT_SECRET,
    SECRET,
    TOKEN,
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
    queued_by,
)

LEAD = EXCERPT - 6  # the cut falls 6 characters into the token
CREATE_TRIGGER = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""


URL = "http://127.0.0.1:9/hooks/a?k=v"
BODY = b'{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"' + TOKEN.encode() + b'"}'
STARTED = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z


def _rows(world: World, sql: str, *params: object) -> list[dict[str, Any]]:
    with world.db.read() as con:
        return [dict(r) for r in con.execute(sql, params).fetchall()]


def _w_and_b_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _opened(due: outbox.Due) -> outbox.Due:
    return replace(due, read_at=0.0)


def test_a_fired_automation_queues_its_exact_bytes_sealed_and_its_body_masked(
    world: World,
) -> None:
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    before, read = time.time(), time.monotonic()
    (due,) = queued_by(world, "q1")
    after = time.time()
    assert read <= due.read_at <= time.monotonic()
    webhook_id = signing.delivery_id(TEAM, "q1", "promote")
    endpoint = "http://127.0.0.1:9"
    credentials = signing.Credentials(TOKEN, SECRET)
    assert _opened(due) == outbox.Due(due.id, URL, endpoint, webhook_id, BODY, credentials)
    assert due.secrets == [TOKEN, SECRET, URL, "/hooks/a?k=v"]
    (event,) = _rows(world, "SELECT id, entity_id FROM events")
    (row,) = _rows(world, "SELECT * FROM deliveries")
    sealed = json.loads(world.client.app.state.service.box.open(bytes(row.pop("sealed"))))
    body = base64.b64encode(BODY).decode()
    assert sealed == {"body": body, "url": URL, "token": TOKEN, "secret": SECRET}
    assert before <= row.pop("next_at") == row.pop("accepted_at") <= after
    created = row.pop("created_at")
    assert created in {_w_and_b_time(before), _w_and_b_time(after)}
    assert row == {
        "id": due.id,
        "event_id": event["id"],
        "entity_id": event["entity_id"],
        "automation": "promote",
        "kind": "webhook",
        "url": f"{endpoint}/***",
        "endpoint": endpoint,
        "webhook_id": webhook_id,
        "shown": '{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"***"}',
        "status": "pending",
        "attempts": 0,
        "first_at": None,
    }
    box = world.client.app.state.service.box
    read = time.monotonic()
    with world.db.read() as con:
        (claimed,) = outbox.claim(con, box, endpoint, at=after, skip=set(), limit=1)
    assert read <= claimed.read_at <= time.monotonic()
    assert _opened(claimed) == _opened(due)
    # A delivery sealed before its URL was (a database from before migration 6) is
    # sent to the URL its row keeps.
    older = {"body": body, "token": TOKEN, "secret": SECRET}
    with world.db.write() as con:
        con.execute(
            "UPDATE deliveries SET sealed = ?, url = ?", (box.seal(json.dumps(older)), endpoint)
        )
        (claimed,) = outbox.claim(con, box, endpoint, at=after, skip=set(), limit=1)
    assert _opened(claimed) == replace(_opened(due), url=endpoint)


def test_a_delivery_carries_only_the_credentials_its_webhook_names(world: World) -> None:
    world.admin.ok(INSERT_SECRET, {"n": "SIGNING", "v": SECRET})
    world.admin.ok(INSERT_SECRET, {"n": "TOKEN", "v": TOKEN})
    hooks = {
        "signed": webhook(world.admin, "signed", urlEndpoint=URL, secretRef="SIGNING"),
        "tokened": webhook(world.admin, "tokened", urlEndpoint=URL, accessTokenRef="TOKEN"),
        "bare": webhook(world.admin, "bare", urlEndpoint=URL),
    }
    for name, hook in hooks.items():
        world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook, name=name))
    queued = queued_by(world, "c1")
    assert {d.webhook_id: d.credentials for d in queued} == {
        signing.delivery_id(TEAM, "c1", "signed"): signing.Credentials(None, SECRET),
        signing.delivery_id(TEAM, "c1", "tokened"): signing.Credentials(TOKEN, None),
        signing.delivery_id(TEAM, "c1", "bare"): signing.Credentials(None, None),
    }
    assert {d.body for d in queued} == {b'{"alias":"prod"}'}
    box = world.client.app.state.service.box
    rows = _rows(world, "SELECT automation, sealed, shown FROM deliveries")
    assert {r["automation"]: json.loads(box.open(bytes(r["sealed"]))) for r in rows} == {
        name: {"body": "eyJhbGlhcyI6InByb2QifQ==", "url": URL, "token": token, "secret": secret}
        for name, token, secret in [
            ("signed", None, SECRET),
            ("tokened", TOKEN, None),
            ("bare", None, None),
        ]
    }
    assert {r["shown"] for r in rows} == {'{"alias":"prod"}'}


def _three(world: World) -> list[outbox.Due]:
    """Three deliveries to URL, due at 100, 50 and 200, and three to another endpoint, at 100."""
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, URL))
    other = webhook(world.admin, "other", urlEndpoint="http://127.0.0.1:10/x")
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, other, name="elsewhere"))
    queued = [d for e in ("d1", "d2", "d3") for d in queued_by(world, e)]
    ours = [d for d in queued if d.endpoint == "http://127.0.0.1:9"]
    assert len(ours) == 3
    with world.db.write() as con:
        for due, at in zip(ours, (100.0, 50.0, 200.0), strict=True):
            con.execute("UPDATE deliveries SET next_at = ? WHERE id = ?", (at, due.id))
        con.execute("UPDATE deliveries SET next_at = 100 WHERE endpoint = 'http://127.0.0.1:10'")
    return ours


def test_a_claim_takes_what_is_due_to_its_endpoint_oldest_first_less_those_in_flight(
    world: World,
) -> None:
    d1, d2, d3 = _three(world)
    box = world.client.app.state.service.box
    ep = d1.endpoint

    def claim(at: float, skip: set[int], limit: int) -> list[int]:
        with world.db.read() as con:
            return [d.id for d in outbox.claim(con, box, ep, at=at, skip=skip, limit=limit)]

    assert claim(49.9, set(), 5) == []
    assert claim(50.0, set(), 5) == [d2.id]
    assert claim(100.0, set(), 5) == [d2.id, d1.id]
    assert claim(200.0, set(), 2) == [d2.id, d1.id]
    assert claim(200.0, {d2.id}, 2) == [d1.id, d3.id]
    assert claim(200.0, {d2.id}, 1) == [d1.id]
    assert claim(200.0, {d1.id, d2.id, d3.id}, 3) == []
    with world.db.read() as con:
        assert outbox.due_endpoints(con, 49.9) == []
        assert outbox.due_endpoints(con, 50.0) == [ep]
        assert sorted(outbox.due_endpoints(con, 100.0)) == ["http://127.0.0.1:10", ep]
        assert outbox.pending_count(con) == 6
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET status = 'failed' WHERE id = ?", (d2.id,))
        con.execute("UPDATE deliveries SET status = 'delivered' WHERE endpoint != ?", (ep,))
        con.execute("UPDATE deliveries SET attempts = 2, first_at = 42.5 WHERE id = ?", (d1.id,))
    assert claim(200.0, set(), 5) == [d1.id, d3.id]
    with world.db.read() as con:
        assert outbox.due_endpoints(con, 100.0) == [ep]
        assert outbox.pending_count(con) == 2
        (again, _) = outbox.claim(con, box, ep, at=200.0, skip=set(), limit=5)
    assert _opened(again) == replace(_opened(d1), attempts=2, first_at=42.5)


def _attempts(world: World) -> list[tuple[Any, ...]]:
    rows = _rows(world, "SELECT * FROM attempts ORDER BY id")
    return [tuple(r.values())[1:] for r in rows]


def test_settling_records_each_attempt_masked_and_moves_each_delivery_on(world: World) -> None:
    d1, d2, d3 = _three(world)
    headers = [("webhook-id", "msg_1"), ("content-type", "application/json")]
    attempts = [
        outbox.Attempt(
            d1, STARTED, Outcome(200, 0.123456, excerpt="ok", received=2), headers, None
        ),
        outbox.Attempt(
            d2,
            STARTED + 1,
            Outcome(400, 0.5, "status", f"said {TOKEN}", f"echo {SECRET}", received=999),
            [],
            None,
        ),
        outbox.Attempt(
            d3, STARTED + 2, Outcome(500, 1.0, "status", "", "z" * 300, received=300), [], 30.0
        ),
    ]
    before = time.time()
    with world.db.write() as con:
        assert outbox.settle_all(con, attempts) == ["delivered", "failed", "pending"]
    after = time.time()
    rows = _rows(world, "SELECT id, status, attempts, next_at, first_at FROM deliveries")
    got = {r.pop("id"): r for r in rows}
    assert before + 30 <= got[d3.id].pop("next_at") <= after + 30
    assert [got[d.id] for d in (d1, d2, d3)] == [
        {"status": "delivered", "attempts": 1, "next_at": STARTED, "first_at": STARTED},
        {"status": "failed", "attempts": 1, "next_at": STARTED + 1, "first_at": STARTED + 1},
        {"status": "pending", "attempts": 1, "first_at": STARTED + 2},
    ]
    stored = json.dumps(headers)
    assert _attempts(world) == [
        (d1.id, "2023-11-14T22:13:20.250+00:00", 0.1235, 200, None, "", "ok", stored),
        (d2.id, "2023-11-14T22:13:21.250+00:00", 0.5, 400, "status", "said ***", "echo ***", "[]"),
        (d3.id, "2023-11-14T22:13:22.250+00:00", 1.0, 500, "status", "", "z" * EXCERPT, "[]"),
    ]
    # One attempt at a time, as the worker once did: its wait, then the last one.
    before = time.time()
    with world.db.write() as con:
        again = outbox.settle(
            con, d3, STARTED + 9, outcome=Outcome(503, 2.0, "status"), stored_headers=[], delay=60.0
        )
        assert again == "pending"
    (row,) = _rows(world, "SELECT next_at, attempts, first_at FROM deliveries WHERE id = ?", d3.id)
    assert before + 60 <= row["next_at"] <= time.time() + 60
    assert (row["attempts"], row["first_at"]) == (2, STARTED + 2)  # from the first attempt
    with world.db.write() as con:
        last = outbox.settle(
            con,
            d3,
            STARTED + 70,
            outcome=Outcome(503, 1.0, "status"),
            stored_headers=[],
            delay=None,
        )
        assert last == "failed"
    (row,) = _rows(
        world, "SELECT status, attempts, next_at, first_at FROM deliveries WHERE id = ?", d3.id
    )
    assert row == {
        "status": "failed",
        "attempts": 3,
        "next_at": STARTED + 70,
        "first_at": STARTED + 2,
    }
    assert _attempts(world)[3] == (
        d3.id,
        "2023-11-14T22:13:29.250+00:00",
        2.0,
        503,
        "status",
        "",
        "",
        "[]",
    )


def test_an_excerpt_is_masked_at_its_end_only_when_the_sender_cut_it(world: World) -> None:
    d1, d2, _ = _three(world)
    prefix = "y" * 10 + TOKEN[:8]
    whole = Outcome(400, 0.1, "status", excerpt=prefix, received=len(prefix))
    cut = Outcome(400, 0.1, "status", excerpt=prefix, received=len(prefix) + 1)
    with world.db.write() as con:
        outbox.settle_all(
            con,
            [
                outbox.Attempt(d1, STARTED, whole, [], None),
                outbox.Attempt(d2, STARTED, cut, [], None),
            ],
        )
    assert [a[6] for a in _attempts(world)] == [prefix, "y" * 10 + "***"]


def test_sent_again_by_hand_a_failed_delivery_starts_a_fresh_schedule(world: World) -> None:
    d1, d2, d3 = _three(world)
    with world.db.write() as con:
        con.execute(
            "UPDATE deliveries SET status = 'failed', attempts = 9, first_at = 7.5 WHERE id = ?",
            (d1.id,),
        )
        con.execute(
            "UPDATE deliveries SET attempts = 3, first_at = 8.5, next_at = ? WHERE id = ?",
            (time.time() + 3600, d2.id),
        )
        con.execute("UPDATE deliveries SET attempts = 4, first_at = 9.5 WHERE id = ?", (d3.id,))
    before = time.time()
    with world.db.write() as con:
        assert outbox.resend(con, d1.id) == "failed"
        assert outbox.resend(con, d2.id) == "pending"  # due now, its attempts still count
        assert outbox.resend(con, d3.id) == "pending"  # due already: it stays as due
        assert outbox.resend(con, d1.id) == "pending"
        assert outbox.resend(con, 10_000) is None
    after = time.time()
    rows = _rows(world, "SELECT id, status, attempts, next_at, first_at FROM deliveries")
    got = {r.pop("id"): r for r in rows}
    assert before <= got[d1.id].pop("next_at") <= after
    assert before <= got[d2.id].pop("next_at") <= after
    assert [got[d.id] for d in (d1, d2, d3)] == [
        {"status": "pending", "attempts": 0, "first_at": None},
        {"status": "pending", "attempts": 3, "first_at": 8.5},
        {"status": "pending", "attempts": 4, "next_at": 200.0, "first_at": 9.5},
    ]
    with world.db.write() as con:
        con.execute("UPDATE deliveries SET status = 'delivered' WHERE id = ?", (d1.id,))
        con.execute("UPDATE deliveries SET status = 'failed', attempts = 0 WHERE id = ?", (d2.id,))
        assert outbox.resend(con, d1.id) is None  # delivered: nothing to send
        assert outbox.resend(con, d2.id) is None  # never attempted: it had nothing to send
    rows = _rows(
        world, "SELECT id, status, attempts FROM deliveries WHERE id IN (?, ?)", d1.id, d2.id
    )
    assert rows == [
        {"id": d1.id, "status": "delivered", "attempts": 0},
        {"id": d2.id, "status": "failed", "attempts": 0},
    ]


class EchoAtTheCut(Receiver):
    """Answers 400 (not retried) with the token placed where history's cut falls, and its path."""

    async def _answer(self, got: Received, writer: Any) -> bool:
        token = got.headers["authorization"].removeprefix("Bearer ")
        body = ("x" * LEAD + token + " at " + got.path).encode()
        writer.write(b"HTTP/1.1 400 X\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        return True


@pytest.fixture
def echoing() -> Iterator[EchoAtTheCut]:
    with EchoAtTheCut() as running:
        yield running


def test_a_token_split_by_the_cut_leaves_no_prefix_in_history(
    world: World, echoing: EchoAtTheCut, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "1")  # a busy machine: no timeout
    hook = hook_with_secrets(world, echoing.url("/hooks/split"))
    alias_automation(world.admin, world.project_id, hook, "promote")
    assert emit(world, alias_event("cut")).status_code == 202
    assert drain(world, timeout=60) == 0
    answer = world.client.request("GET", "/api/v1/deliveries", headers=basic(world.admin.key))
    (delivery,) = answer.json()["deliveries"]
    attempts = delivery["attempts"]
    assert [(a["status"], a["error"]) for a in attempts] == [(400, "status")]
    assert TOKEN[:6] == "token-"
    assert attempts[0]["excerpt"] == "x" * LEAD + "*** at"
    assert len(attempts[0]["excerpt"]) == EXCERPT


def test_a_variable_of_another_event_is_delivered_blank(world: World, receiver: Receiver) -> None:
    """An SDK-made alias automation whose payload names a run variable: W&B sends it blank."""
    hook = hook_with_secrets(world, receiver.url("/hooks/blank"))
    made = trigger_input(world.project_id, hook, name="blank")
    made["input"]["eventFilter"] = json.dumps(
        {"$or": [{"$and": [{"alias": {"$regex": "^prod$"}}]}]}
    )
    action = made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]
    action["requestPayload"] = '{"run": "${run_name}.", "alias": "${alias}"}'
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )
    assert emit(world, alias_event("blank-1")).status_code == 202
    assert drain(world, timeout=60) == 0
    (got,) = receiver.requests
    assert json.loads(got.body) == {"run": ".", "alias": "prod"}


SLACK_URL = "http://127.0.0.1:9/services/T0/B0/slack-canary"


def _notify(world: World, name: str, channel: str, url: str | None) -> None:
    made = admin.ensure_slack_integration(world.db, TEAM, channel)
    if url is not None:
        admin.set_slack_url(world.db, TEAM, channel, url)
    notify = trigger_input(world.project_id, name=name, triggeredActionType="NOTIFICATION")
    notify["input"]["triggeredActionConfig"] = {
        "notificationActionInput": {
            "integrationID": encode_id("Integration", made.id),
            "title": "Promoted",
            "message": "ready",
            "severity": "INFO",
        }
    }
    world.admin.ok(CREATE_TRIGGER, notify)


def test_what_cannot_be_sent_is_failed_at_once_with_why_and_nothing_sealed(world: World) -> None:
    _notify(world, "notify", "alerts", SLACK_URL)
    _notify(world, "hushed", "quiet", None)
    bare = webhook(world.admin, "bare", urlEndpoint=URL)  # no access token for its payload
    alias_automation(world.admin, world.project_id, bare, "unmade")
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, name="nothing"))  # no-op
    before = datetime.now(UTC).replace(microsecond=0)
    (due,) = queued_by(world, "u1")
    after = datetime.now(UTC)
    assert (due.url, due.endpoint, due.credentials) == (
        SLACK_URL,
        "http://127.0.0.1:9",
        signing.Credentials(),
    )
    assert json.loads(due.body)["text"] == ":information_source: Promoted: ready"
    assert due.secrets == [SLACK_URL, "/services/T0/B0/slack-canary"]
    box = world.client.app.state.service.box
    rows = _rows(world, "SELECT * FROM deliveries ORDER BY id")
    assert [
        (r["automation"], r["kind"], r["url"], r["endpoint"], r["status"], r["attempts"])
        for r in rows
    ] == [
        ("notify", "slack", "http://127.0.0.1:9/***", "http://127.0.0.1:9", "pending", 0),
        ("hushed", "slack", "", "", "failed", 0),
        ("unmade", "webhook", "http://127.0.0.1:9/***", "http://127.0.0.1:9", "failed", 0),
    ]
    notify, hushed, unmade = rows
    assert notify["webhook_id"] == signing.delivery_id(TEAM, "u1", "notify")
    assert json.loads(box.open(bytes(notify["sealed"])))["url"] == SLACK_URL
    assert [json.loads(box.open(bytes(r["sealed"]))) for r in (hushed, unmade)] == [
        {"body": "", "url": ""},
        {"body": "", "url": URL},
    ]
    assert (hushed["shown"], unmade["shown"]) == ("", "")
    assert [r["webhook_id"] for r in (hushed, unmade)] == [
        signing.delivery_id(TEAM, "u1", "hushed"),
        signing.delivery_id(TEAM, "u1", "unmade"),
    ]
    attempts = _rows(world, "SELECT * FROM attempts ORDER BY id")
    assert [a.pop("delivery_id") for a in attempts] == [hushed["id"], unmade["id"]]
    for attempt in attempts:
        started = attempt.pop("started_at")
        assert (len(started), started[-6:]) == (29, "+00:00")  # milliseconds, in UTC
        assert before <= datetime.fromisoformat(started) <= after
    assert [tuple(a.values())[1:] for a in attempts] == [
        (
            0.0,
            None,
            "not sent",
            "the Slack integration #quiet of team acme has no incoming-webhook URL (set one: "
            "reconcile server create-slack-integration acme quiet --url-env VAR)",
            "",
            "[]",
        ),
        (
            0.0,
            None,
            "render",
            "automation 'unmade': ${ACCESS_TOKEN} has no value for alias_added events",
            "",
            "[]",
        ),
    ]


def test_a_payload_is_rendered_with_the_facts_of_its_event(world: World) -> None:
    """The server's number of the event's version, the value that made a metric
    automation fire (here an average, not the latest value) and the server's app URL."""
    hook = webhook(world.admin, "facts", urlEndpoint=URL)
    alias = trigger_input(world.project_id, hook, name="alias")
    alias["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        '{"v": "${artifact_version}", "s": "${artifact_version_string}"}'
    )
    world.admin.ok(CREATE_TRIGGER, alias)
    metric = trigger_input(world.project_id, hook, name="metric")
    metric["input"].update(
        triggeringEventType="RUN_METRIC",
        eventFilter=json.dumps(
            {
                "run_filter": json.dumps({"$and": []}),
                "run_metric_filter": {
                    "threshold_filter": {
                        "name": "acc",
                        "agg_op": "AVERAGE",
                        "window_size": 2,
                        "cmp_op": "$gt",
                        "threshold": 0.5,
                    }
                },
                "metric_filter": None,
            }
        ),
    )
    metric["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        '{"url": "${run_url}", "name": "${metric_name}", "value": "${metric_value}"}'
    )
    world.admin.ok(CREATE_TRIGGER, metric)
    (due,) = queued_by(world, "a1")
    (event,) = _rows(world, "SELECT id FROM events")
    version = base64.b64encode(f"Artifact:{event['id']}".encode()).decode()
    assert json.loads(due.body) == {
        "v": f"wandb-artifact://_id/{version}",
        "s": f"{TEAM}/vision/detector:v3",
    }
    service = world.client.app.state.service
    auth = basic(world.admin.key)["Authorization"]
    fired = []
    for step, value in enumerate([0.25, 0.875]):
        run = {"id": "r1", "name": "sweep"}
        logged = {"type": "run_logged", "entity": TEAM, "project": "vision", "run": run}
        raw = json.dumps({**logged, "step": step, "metrics": {"acc": value}}).encode()
        (status, _), queued = events.ingest(
            service.db, service.box, auth, raw, "https://app.example/"
        )
        assert status == 202
        fired += queued
    (due,) = fired
    assert json.loads(due.body) == {
        "url": f"https://app.example/{TEAM}/vision/runs/r1",
        "name": "acc",
        "value": "0.5625",
    }


def test_a_version_written_through_the_api_is_named_by_its_own_id(world: World) -> None:
    """`${artifact_version}` of an alias the API's write added: the version's id, not the
    stored event's number."""
    hook = webhook(world.admin, "named", urlEndpoint=URL)
    made = trigger_input(world.project_id, hook, name="named")
    made["input"]["eventFilter"] = json.dumps(
        {"$or": [{"$and": [{"alias": {"$regex": "^best$"}}]}]}
    )
    made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        '{"v": "${artifact_version}"}'
    )
    world.admin.ok(CREATE_TRIGGER, made)
    art, _ = artifacts.log(world, world.member, {"a.txt": b"a"}, aliases=("best",))
    (row,) = _rows(world, "SELECT sealed FROM deliveries")
    sealed = json.loads(world.client.app.state.service.box.open(bytes(row["sealed"])))
    number = base64.b64decode(art).decode()  # Artifact:N
    (event,) = _rows(world, "SELECT id FROM events WHERE type = 'alias_added'")
    assert number != f"Artifact:{event['id']}"
    version = base64.b64encode(number.encode()).decode()
    assert json.loads(base64.b64decode(sealed["body"])) == {"v": f"wandb-artifact://_id/{version}"}
