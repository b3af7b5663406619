"""A run's history read back as wandb-core's scan reads it, in process: pages by step,
the rows holding given keys, the last step; bad arguments are GraphQL errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.helpers import TEAM, World, basic

UPSERT = """mutation { upsertBucket(input: {name: "r1", modelName: "vision",
  entityName: "acme"}) { inserted } }"""
PAGE = """query ($min: Int64, $max: Int64, $samples: Int) {
  project(name: "vision", entityName: "acme") { run(name: "r1") {
    history(minStep: $min, maxStep: $max, samples: $samples) historyKeys
    parquetHistory(liveKeys: []) { parquetUrls liveData } } } }"""
SAMPLED = """query ($specs: [JSONString!]!) {
  project(name: "vision", entityName: "acme") { run(name: "r1") {
    sampledHistory(specs: $specs) } } }"""


@pytest.fixture
def logged(world: World) -> World:
    world.member.ok(UPSERT)
    rows = [
        {"_step": step, "acc": step / 10, **({"val": {"loss": 1 - step / 10}} if step % 2 else {})}
        for step in (0, 1, 2, 3, 5, 8)
    ]
    body = {
        "files": {"wandb-history.jsonl": {"offset": 0, "content": [json.dumps(r) for r in rows]}}
    }
    path = f"/files/{TEAM}/vision/r1/file_stream"
    assert world.client.post(path, json=body, headers=basic(world.member.key)).status_code == 200
    return world


def _run(world: World, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = world.member.ok(document, variables)["project"]["run"]
    return found


def test_pages_by_step_and_the_last_step(logged: World) -> None:
    run = _run(logged, PAGE, {"min": 2, "max": 8})
    assert [json.loads(row)["_step"] for row in run["history"]] == [2, 3, 5]
    assert run["historyKeys"] == {"lastStep": 8, "keys": {}}
    assert run["parquetHistory"] == {"parquetUrls": [], "liveData": []}
    assert [json.loads(r)["_step"] for r in _run(logged, PAGE, {"samples": 2})["history"]] == [0, 1]
    assert _run(logged, PAGE, {"min": 9})["history"] == []


def test_sampled_history_keeps_the_rows_holding_every_key(logged: World) -> None:
    specs = [
        json.dumps({"keys": ["_step", "val.loss"], "minStep": 1, "maxStep": 5, "samples": 10}),
        json.dumps({"keys": ["acc"], "samples": 2}),
    ]
    assert _run(logged, SAMPLED, {"specs": specs})["sampledHistory"] == [
        [
            {"_step": 1, "val.loss": 0.9},
            {"_step": 3, "val.loss": 0.7},
            {"_step": 5, "val.loss": 0.5},
        ],
        [{"acc": 0.0}, {"acc": 0.1}],
    ]


def test_a_run_without_history_has_no_last_step(world: World) -> None:
    world.member.ok(UPSERT)
    assert _run(world, PAGE, {})["historyKeys"] == {"lastStep": -1, "keys": {}}


@pytest.mark.parametrize(
    ("document", "variables", "message"),
    [
        (
            SAMPLED,
            {"specs": ["{"]},
            "specs is not valid JSON: Expecting property name enclosed in double quotes",
        ),
        (SAMPLED, {"specs": ['{"keys": "acc"}']}, "specs: keys must be a list of metric names"),
        (SAMPLED, {"specs": ["{}"] * 11}, "specs: at most 10"),
    ],
)
def test_bad_arguments_are_graphql_errors(
    logged: World, document: str, variables: dict[str, Any], message: str
) -> None:
    assert logged.member.fails(document, variables) == f"BAD_USER_INPUT: {message}"


MIN_NOT_A_NUMBER = "Variable '$min' got an invalid value; Int64 cannot represent three"
MAX_TOO_LARGE = (
    "Variable '$max' got an invalid value; Int64 cannot represent 1180591620717411303424"
)


@pytest.mark.parametrize(
    ("variables", "message"),
    [({"min": "three"}, MIN_NOT_A_NUMBER), ({"max": 2**70}, MAX_TOO_LARGE)],
)
def test_steps_that_are_not_int64_are_refused_before_running(
    logged: World, variables: dict[str, Any], message: str
) -> None:
    """minStep and maxStep are W&B's Int64: the request is refused as a whole (HTTP 400)."""
    assert logged.member.fails(PAGE, variables, status=400) == (
        f"BAD_USER_INPUT: {message}: a whole number is needed"
    )
