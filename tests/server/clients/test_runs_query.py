"""`api.runs(path, filters=..., order=...)` as the SDK sends it, in process: W&B's
common filters and orders over a project's runs, and bad filters refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.helpers import TEAM, World, basic

UPSERT = """mutation ($name: String, $config: JSONString, $summary: JSONString,
  $tags: [String!], $shown: String) {
  upsertBucket(input: {name: $name, modelName: "vision", entityName: "acme", config: $config,
    summaryMetrics: $summary, tags: $tags, displayName: $shown}) { inserted } }"""
RUNS = """query ($filters: JSONString, $order: String, $first: Int, $after: String) {
  project(name: "vision", entityName: "acme") {
    runCount(filters: $filters)
    runs(filters: $filters, order: $order, first: $first, after: $after) {
      edges { node { name tags } } pageInfo { hasNextPage endCursor } } } }"""
STREAM_END = {"complete": True, "exitcode": 0}


def _run(world: World, name: str, lr: float, acc: float | None, tags: list[str]) -> None:
    config = {"lr": {"value": lr, "desc": None}, "opt": {"value": {"name": "adam"}}}
    summary = {} if acc is None else {"acc": acc}
    variables = {
        "name": name,
        "config": json.dumps(config),
        "summary": json.dumps(summary),
        "tags": tags,
        "shown": f"sweep-{name}",
    }
    world.member.ok(UPSERT, variables)


@pytest.fixture
def three(world: World) -> World:
    _run(world, "a", 0.1, 0.9, ["baseline"])
    _run(world, "b", 0.01, 0.7, ["tuned", "baseline"])
    _run(world, "c", 0.001, None, [])
    path = f"/files/{TEAM}/vision/b/file_stream"
    world.client.post(path, json=STREAM_END, headers=basic(world.member.key))
    return world


def _names(world: World, filters: Any = None, order: str | None = None) -> list[str]:
    variables: dict[str, Any] = {"order": order}
    if filters is not None:
        variables["filters"] = json.dumps(filters)
    found = world.member.ok(RUNS, variables)["project"]
    names = [edge["node"]["name"] for edge in found["runs"]["edges"]]
    assert found["runCount"] == len(names)
    return names


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({}, ["a", "b", "c"]),
        ({"state": "finished"}, ["b"]),
        ({"state": {"$ne": "finished"}}, ["a", "c"]),
        ({"config.lr": 0.01}, ["b"]),
        ({"config.lr": {"$gte": 0.01}}, ["a", "b"]),
        ({"config.lr.value": {"$lt": 0.01}}, ["c"]),
        ({"config.opt.name": "adam"}, ["a", "b", "c"]),
        ({"summary_metrics.acc": {"$gt": 0.8}}, ["a"]),
        ({"summary_metrics.acc": {"$exists": False}}, ["c"]),
        ({"display_name": {"$regex": "^sweep-[ab]$"}}, ["a", "b"]),
        ({"tags": "baseline"}, ["a", "b"]),
        ({"tags": {"$in": ["tuned", "other"]}}, ["b"]),
        ({"tags": {"$nin": ["baseline"]}}, ["c"]),
        ({"$or": [{"config.lr": 0.1}, {"state": "finished"}]}, ["a", "b"]),
        ({"$and": [{"tags": "baseline"}, {"summary_metrics.acc": {"$lt": 0.8}}]}, ["b"]),
        ({"$nor": [{"tags": "baseline"}]}, ["c"]),
        ({"name": {"$in": ["a", "c"]}}, ["a", "c"]),
        ({"created_at": {"$gt": "2000-01-01T00:00:00Z"}}, ["a", "b", "c"]),
    ],
)
def test_filters_as_w_and_b_reads_them(three: World, filters: Any, names: list[str]) -> None:
    assert _names(three, filters) == names


@pytest.mark.parametrize(
    ("order", "names"),
    [
        ("+created_at", ["a", "b", "c"]),
        ("-created_at", ["c", "b", "a"]),
        ("-summary_metrics.acc", ["a", "b", "c"]),  # without the metric: last
        ("summary_metrics.acc", ["b", "a", "c"]),
        ("+config.lr", ["c", "b", "a"]),
    ],
)
def test_orders(three: World, order: str, names: list[str]) -> None:
    assert _names(three, order=order) == names


def test_pages_follow_the_order(three: World) -> None:
    first = three.member.ok(RUNS, {"order": "-created_at", "first": 2})["project"]["runs"]
    assert [e["node"]["name"] for e in first["edges"]] == ["c", "b"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = three.member.ok(RUNS, {"order": "-created_at", "first": 2, "after": after})
    assert [e["node"] for e in rest["project"]["runs"]["edges"]] == [
        {"name": "a", "tags": ["baseline"]}
    ]
    assert rest["project"]["runs"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ("[1]", "filters must be a JSON object"),
        ('{"$xor": []}', "filters: unknown operator '$xor'"),
        ('{"state": {"$near": 1}}', "filters: unknown operator '$near'"),
        ('{"colour": "red"}', "filters: unknown run field 'colour'"),
        ('{"$or": {"state": "x"}}', "filters: $or takes a list of conditions"),
        ('{"tags": {"$in": "x"}}', "filters: $in takes a list"),
        ('{"display_name": {"$regex": "("}}', "filters: $regex '(' is not an RE2 pattern"),
        (
            '{"display_name": {"$regex": 1}}',
            "filters: $regex takes a pattern of at most 1024 characters",
        ),
        ('{"a":' * 40 + "1" + "}" * 40, "filters nests deeper than 32 levels"),
    ],
)
def test_bad_filters_are_refused(three: World, filters: str, message: str) -> None:
    assert three.member.fails(RUNS, {"filters": filters}) == f"BAD_USER_INPUT: {message}"


def test_tags_are_checked_and_kept_in_order_without_repeats(world: World) -> None:
    _run(world, "t", 0.1, None, ["x", "y", "x"])
    assert _names(world, {"tags": "y"}) == ["t"]
    assert world.member.ok(RUNS, {})["project"]["runs"]["edges"][0]["node"]["tags"] == ["x", "y"]
    too_many = {"name": "t", "tags": [str(n) for n in range(101)]}
    assert world.member.fails(UPSERT, too_many) == (
        "BAD_USER_INPUT: tags: at most 100, each 1 to 1024 characters"
    )
