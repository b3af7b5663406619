"""Runs through GraphQL and file_stream as the SDK sends them, in process: insert once,
idempotent offsets, gaps refused, the run ended by its last post, roles, bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconcile.server.admin import tasks as admin
from reconcile.server.clients.runs import flatten
from tests.server.helpers import TEAM, Api, World, basic
from tests.server.runtime.test_matching import _run_automation

UPSERT = """
mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, config: $config}) {
    bucket { id name displayName config historyLineCount
             project { id name entity { id name } } }
    inserted
  }
}
"""


DEEP_OBJECT = '{"a":' * 40 + "1" + "}" * 40


def _upsert(api: Api, name: str = "r1", project: str = "vision") -> dict[str, Any]:
    variables = {"name": name, "project": project, "entity": TEAM, "config": '{"lr": 1}'}
    data: dict[str, Any] = api.ok(UPSERT, variables)["upsertBucket"]
    return data


def _stream(world: World, body: Any, key: str | None = None, run: str = "r1") -> httpx.Response:
    headers = basic(key or world.member.key)
    path = f"/files/{TEAM}/vision/{run}/file_stream"
    if isinstance(body, bytes):
        return world.client.post(path, content=body, headers=headers)
    return world.client.post(path, json=body, headers=headers)


def _history(offset: int, *rows: dict[str, Any]) -> dict[str, Any]:
    lines = [json.dumps(row) for row in rows]
    return {"files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}}


def _count(world: World, sql: str) -> Any:
    with world.db.read() as con:
        return con.execute(sql).fetchone()[0]


def test_upsert_inserts_once_and_creates_the_project(world: World) -> None:
    first = _upsert(world.member, project="fresh")
    again = _upsert(world.member, project="fresh")
    assert (first["inserted"], again["inserted"]) == (True, False)
    assert first["bucket"]["project"]["name"] == "fresh"
    assert first["bucket"]["project"]["entity"]["name"] == TEAM
    assert _count(world, "SELECT COUNT(*) FROM events WHERE type = 'run_state'") == 1


def test_a_display_name_events_cannot_carry_is_refused(world: World) -> None:
    document = UPSERT.replace("$config: JSONString)", "$config: JSONString, $shown: String)")
    document = document.replace("config: $config}", "config: $config, displayName: $shown}")
    variables = {"name": "r1", "project": "vision", "entity": TEAM}
    assert world.member.fails(document, {**variables, "shown": "x" * 1025}) == (
        "BAD_USER_INPUT: displayName is longer than 1024 characters"
    )
    made = world.member.ok(document, {**variables, "shown": ""})["upsertBucket"]
    assert made["bucket"]["displayName"] == "r1"  # empty: the run's name, as W&B shows it
    again = world.member.ok(document, {**variables, "shown": "x" * 1024})["upsertBucket"]
    assert again["bucket"]["displayName"] == "x" * 1024
    assert _count(world, "SELECT COUNT(*) FROM runs") == 1


def test_other_teams_and_registries_are_refused(world: World) -> None:
    variables = {"name": "r9", "project": "vision", "entity": TEAM}
    assert world.outsider.fails(UPSERT, variables) == "NOT_FOUND: entity 'acme' not found"
    registry = {**variables, "project": "wandb-registry-models"}
    assert world.member.fails(UPSERT, registry) == (
        "FORBIDDEN: permission denied: runs cannot be written to acme/wandb-registry-models"
    )
    assert _count(world, "SELECT COUNT(*) FROM runs") == 0
    _upsert(world.member)
    refused = _stream(world, _history(0, {"_step": 0, "acc": 1}), key=world.outsider.key)
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        404,
        "entity 'acme' not found",
    )


def _threshold_on(world: World, name: str, metric: str) -> None:
    condition = {"name": metric, "window_size": 1, "cmp_op": "$gt", "threshold": 5}
    run_filter = {"run_filter": '{"$and":[]}', "run_metric_filter": {"threshold_filter": condition}}
    _run_automation(world, name, "RUN_METRIC", run_filter)


def _logged(world: World) -> list[tuple[str, dict[str, Any], list[str]]]:
    with world.db.read() as con:
        rows = con.execute(
            "SELECT event_key, document, fired FROM events WHERE type = 'run_logged' ORDER BY id"
        ).fetchall()
    return [(key, json.loads(doc)["metrics"], json.loads(fired)) for key, doc, fired in rows]


def test_history_is_appended_once_per_offset_and_gaps_are_refused(world: World) -> None:
    _threshold_on(world, "loss-high", "val.loss")
    _upsert(world.member)
    rows = [{"_step": n, "acc": n / 10, "val": {"loss": 1 - n / 10}} for n in range(3)]
    assert _stream(world, _history(0, *rows[:2])).json() == {"exitcode": None, "limits": {}}
    assert _stream(world, _history(0, *rows[:2])).status_code == 200  # a retry
    assert _stream(world, _history(1, *rows[1:])).status_code == 200  # overlaps by one
    gap = _stream(world, _history(5, {"_step": 5, "acc": 1}))
    assert (gap.status_code, gap.json()["error"]["message"]) == (
        400,
        "wandb-history.jsonl offset 5 leaves a gap: the run has 3 lines",
    )
    assert _count(world, "SELECT COUNT(*) FROM run_history") == 3
    assert _logged(world) == [
        ("run-1-line-0", {"acc": 0.0, "val.loss": 1.0}, []),
        ("run-1-line-1", {"acc": 0.1, "val.loss": 0.9}, []),
        ("run-1-line-2", {"acc": 0.2, "val.loss": 0.8}, []),
    ]


def test_rows_no_metric_automation_reads_are_kept_in_history_only(world: World) -> None:
    _upsert(world.member)
    rows = [{"_step": 0, "acc": 9}, {"_step": 1, "val.loss": 9}, {"_step": 2, "val": {"x": 9}}]
    assert _stream(world, _history(0, *rows)).status_code == 200
    assert (_count(world, "SELECT COUNT(*) FROM run_history"), _logged(world)) == (3, [])
    _threshold_on(world, "loss-high", "val.loss")  # read as "val.loss" or {"val": {"loss"}}
    more = [{"_step": 3, "acc": 9}, {"_step": 4, "val.loss": 9}, {"_step": 5, "val": {"x": 9}}]
    more += [{"_step": 6, "val": {"loss": 9, "x": 1}}, {"_step": 7, "val": {"loss": 1}}]
    assert _stream(world, _history(3, *more)).status_code == 200
    assert _logged(world) == [
        ("run-1-line-4", {"val.loss": 9}, ["loss-high"]),
        ("run-1-line-5", {"val.x": 9}, []),
        ("run-1-line-6", {"val.loss": 9, "val.x": 1}, []),
        ("run-1-line-7", {"val.loss": 1}, []),
    ]


def test_rows_are_read_for_watched_metrics_however_the_line_writes_them(world: World) -> None:
    _threshold_on(world, "loss-high", "loss")
    _upsert(world.member)
    lines = ['{"_step":0,"acc":9}', '{"_step":1,"lo\\u0073s":9}', '{"_step":2,"loss" :9}']
    lines += ['{"_step":3,\n"loss":9}', '{"_step":4,"note":"loss"}', '{"_step":5,"x":{"loss":1}}']
    body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}}
    assert _stream(world, body).status_code == 200
    assert _count(world, "SELECT COUNT(*) FROM run_history") == 6
    assert _logged(world) == [
        ("run-1-line-1", {"loss": 9}, ["loss-high"]),  # fires once while above
        ("run-1-line-2", {"loss": 9}, []),
        ("run-1-line-3", {"loss": 9}, []),
    ]


def test_a_bad_line_after_plain_ones_is_named_and_nothing_is_stored(world: World) -> None:
    _upsert(world.member)
    lines = [json.dumps({"_step": n, "acc": n}) for n in range(5)]
    for bad, message in (
        ('{"_step":5,"acc":01}', "line 5 is not JSON"),
        ('{"_step":5,"acc":1}\n{"_step":6}', "line 5 is not JSON"),
        ('{"_step":5,"a\ud800":1}', "line 5 holds a lone surrogate (\\ud800-\\udfff)"),
    ):
        body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": [*lines, bad]}}}
        answer = _stream(world, json.dumps(body).encode())  # the surrogate as an escape
        assert (answer.status_code, answer.json()["error"]["message"]) == (
            400,
            f"wandb-history.jsonl {message}",
        )
    assert _count(world, "SELECT COUNT(*) FROM run_history") == 0
    summary = {"files": {"wandb-summary.json": {"offset": 0, "content": ['{"\ud800":1}']}}}
    answer = _stream(world, json.dumps(summary).encode())
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "wandb-summary.json holds a lone surrogate (\\ud800-\\udfff)",
    )


def test_every_row_has_its_event_while_an_automation_cannot_say_what_it_reads(
    world: World,
) -> None:
    _threshold_on(world, "broken", "acc")
    with world.db.write() as con:  # as an older server may have stored it
        con.execute("UPDATE triggers SET event_filter = '{' WHERE name = 'broken'")
    _upsert(world.member)
    rows = _history(0, {"_step": 0, "x": 1}, {"_step": 1, "y": 2})
    assert _stream(world, rows).status_code == 200
    assert _logged(world) == [("run-1-line-0", {"x": 1}, []), ("run-1-line-1", {"y": 2}, [])]


def test_names_no_event_can_carry_are_left_out_of_the_event(world: World) -> None:
    _threshold_on(world, "acc-high", "acc")
    _upsert(world.member)
    lines = ['{"_step": 0, "acc": 9, "": 1, "\\ud800": 2}']
    body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}}
    assert _stream(world, body).status_code == 200
    assert _logged(world) == [("run-1-line-0", {"acc": 9}, ["acc-high"])]


def test_the_last_post_replaces_the_summary_and_ends_the_run(world: World) -> None:
    _upsert(world.member)
    summary = {"files": {"wandb-summary.json": {"offset": 0, "content": ['{"best": 3}']}}}
    assert _stream(world, {**summary, "complete": True, "exitcode": 0}).status_code == 200
    assert _stream(world, {"complete": True, "exitcode": 1}).status_code == 200  # too late
    with world.db.read() as con:
        row = con.execute("SELECT state, exit_code, summary FROM runs").fetchone()
        states = [r[0] for r in con.execute("SELECT event_key FROM events ORDER BY id")]
    assert tuple(row) == ("finished", 0, '{"best": 3}')
    assert states == ["run-1-state-running", "run-1-state-finished"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"\xff", 400, "the body is not JSON"),
        (b"[1]", 400, "the body must be a JSON object"),
        (b"[" * 5000 + b"]" * 5000, 400, "the body nests too deeply"),
        ({"files": []}, 400, "files must be an object of file names"),
        ({"files": {"x": 1}}, 400, "files.x must be an object with offset and content"),
        (_history(-1), 400, "files.wandb-history.jsonl.offset must be a whole number >= 0"),
        (
            {"files": {"wandb-history.jsonl": {"offset": 0, "content": [1]}}},
            400,
            "files.wandb-history.jsonl.content must be a list of strings",
        ),
        (
            {"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{"]}}},
            400,
            "wandb-history.jsonl line 0 is not JSON",
        ),
        (
            {"files": {"wandb-history.jsonl": {"offset": 0, "content": ["[]"]}}},
            400,
            "wandb-history.jsonl line 0 is not a JSON object",
        ),
        (
            {"files": {"wandb-history.jsonl": {"offset": 0, "content": [DEEP_OBJECT]}}},
            400,
            "wandb-history.jsonl line 0 nests deeper than 32 levels",
        ),
        (
            {"files": {"wandb-summary.json": {"offset": 0, "content": ["[" * 5000]}}},
            400,
            "wandb-summary.json nests deeper than 32 levels",
        ),
        ({"complete": "yes"}, 400, "complete must be true or false"),
        ({"exitcode": 2**70}, 400, "exitcode is out of range"),
        ({"exitcode": True}, 400, "exitcode must be a whole number or null"),
    ],
)
def test_bad_posts_are_4xx(world: World, body: Any, status: int, message: str) -> None:
    _upsert(world.member)
    answer = _stream(world, body)
    assert (answer.status_code, answer.json()["error"]["message"]) == (status, message)
    assert _count(world, "SELECT COUNT(*) FROM run_history") == 0


def test_unauthenticated_and_unknown_runs(world: World) -> None:
    path = f"/files/{TEAM}/vision/r1/file_stream"
    assert world.client.post(path, content=b"{").status_code == 401
    malformed = {"Authorization": "Basic !!"}
    assert world.client.post(path, json={}, headers=malformed).status_code == 401
    missing = _stream(world, {}, run="nope")
    assert (missing.status_code, missing.json()["error"]["message"]) == (
        404,
        "run nope not found in acme/vision",
    )


def test_flatten_names_nested_metrics_as_w_and_b_does() -> None:
    row = {"_step": 1, "a": {"b": {"c": 1}, "d": 2.5}, "s": "text", "ok": True, "n": float("nan")}
    assert flatten(row) == {"a.b.c": 1, "a.d": 2.5}


def test_streamed_history_feeds_change_and_zscore_automations(world: World) -> None:
    zscore = {"name": "val.acc", "window_size": 4, "threshold": 2.0, "change_dir": "INCREASE"}
    change = {
        "name": "val.acc",
        "agg_op": None,
        "current_window_size": 1,
        "prior_window_size": 1,
        "change_type": "ABSOLUTE",
        "change_dir": "DECREASE",
        "change_amount": 0.2,
    }
    for name, kind, condition in (
        ("spike", "RUN_METRIC_ZSCORE", {"zscore_filter": zscore}),
        ("drop", "RUN_METRIC_CHANGE", {"change_filter": change}),
    ):
        _run_automation(
            world, name, kind, {"run_filter": '{"$and":[]}', "run_metric_filter": condition}
        )
    _upsert(world.member)
    values = [0.5, 0.6, 0.5, 0.6, 2.0, 1.7, 1.0]
    rows = [{"_step": n, "val": {"acc": v}} for n, v in enumerate(values)]
    assert _stream(world, _history(0, *rows[:4])).status_code == 200
    assert _stream(world, _history(4, *rows[4:])).status_code == 200
    with world.db.read() as con:
        fired = [
            json.loads(row[0])
            for row in con.execute("SELECT fired FROM events WHERE type = 'run_logged'")
        ]
    assert fired == [[], [], [], [], ["spike"], ["drop"], []]


def test_a_viewer_reads_runs_but_writes_nothing(world: World) -> None:
    _upsert(world.member)
    assert _stream(world, _history(0, {"_step": 0, "acc": 1})).status_code == 200
    admin.create_user(world.db, "vic")
    admin.set_role(world.db, TEAM, "vic", "viewer")
    key = admin.create_api_key(world.db, "vic")
    viewer = world.api(key)
    denied = "permission denied: viewers of team acme cannot write runs"
    assert viewer.fails(UPSERT, {"name": "r2", "project": "vision", "entity": TEAM}) == (
        f"FORBIDDEN: {denied}"
    )
    files = """mutation { createRunFiles(input: {entityName: "acme", projectName: "vision",
      runName: "r1", files: ["a.txt"]}) { runID } }"""
    assert viewer.fails(files) == f"FORBIDDEN: {denied}"
    refused = _stream(world, _history(1, {"_step": 1, "acc": 2}), key=key)
    assert (refused.status_code, refused.json()["error"]["message"]) == (403, denied)
    event = {"type": "run_state", "entity": TEAM, "project": "vision", "state": "failed"}
    sent = world.client.post(
        "/api/v1/events", json={**event, "run": {"id": "r1"}}, headers=basic(key)
    )
    assert (sent.status_code, sent.json()["error"]["message"]) == (
        403,
        "permission denied: viewers of team acme cannot send events",
    )
    read = viewer.ok(
        '{ project(name: "vision", entityName: "acme") { run(name: "r1") { name state '
        "historyLineCount } runs { edges { node { name } } } } }"
    )["project"]
    assert read == {
        "run": {"name": "r1", "state": "running", "historyLineCount": 1},
        "runs": {"edges": [{"node": {"name": "r1"}}]},
    }
    assert _count(world, "SELECT COUNT(*) FROM runs") == 1
    assert _count(world, "SELECT COUNT(*) FROM run_history") == 1
    assert _count(world, "SELECT COUNT(*) FROM events") == 1  # the run's start
