"""Answers encoded in pieces are the same bytes as answers encoded whole."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconcile.server.api.service import encode
from tests.server.helpers import TEAM, World, trigger_input, webhook

VALUES: list[Any] = [
    {},
    {"data": None},
    {"data": {"a": [], "b": {}, "c": [None, 1, 2.5, True, 'é\u2028"\\']}},
    {"data": {"x": [[[[[[{"deep": [1, {"deeper": []}]}]]]]]]}, "errors": [{"message": "m"}]},
]


@pytest.mark.parametrize("value", VALUES)
def test_pieces_encode_as_the_whole(value: Any) -> None:
    assert encode(value, pieces=True) == encode(value)
    assert json.loads(encode(value, pieces=True)) == value


def test_a_real_answer_encodes_the_same_in_pieces(world: World) -> None:
    hook = webhook(world.admin)
    for index in range(3):
        world.admin.ok(
            "mutation ($input: CreateFilterTriggerInput!) {"
            " createFilterTrigger(input: $input) { trigger { id } } }",
            trigger_input(world.project_id, hook, name=f"a{index}"),
        )
    query = (
        "query ($e: String!) { entity(name: $e) { triggers { edges { cursor node {"
        " id name scope { __typename ... on Project { name } } } } } } }"
    )
    body = {"data": world.admin.ok(query, {"e": TEAM})}
    assert len(body["data"]["entity"]["triggers"]["edges"]) == 3
    assert encode(body, pieces=True) == encode(body)
