"""Answers encoded in pieces are the same bytes as answers encoded whole."""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import pytest

from reconcile.server.api.service import GraphQLService, encode
from tests.server.helpers import TEAM, World, trigger_input, webhook

VALUES: list[Any] = [
    {},
    {"data": None},
    {"data": {"a": [], "b": {}, "c": [None, 1, 2.5, True, 'é\u2028"\\']}},
    {"data": {"x": [[[[[[{"deep": [1, {"deeper": []}]}]]]]]]}, "errors": [{"message": "m"}]},
    {"data": {'clé\u2028"': {"e": [{"n": [10**30, -0.0, 1e-7, 1e20, "\x00\t"]}]}}},
]


@pytest.mark.parametrize("value", VALUES)
def test_pieces_encode_as_the_whole(value: Any) -> None:
    assert encode(value, pieces=True) == encode(value)
    assert json.loads(encode(value, pieces=True)) == value


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("pieces", [True, False])
def test_a_float_json_cannot_hold_is_refused_either_way(bad: float, pieces: bool) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        encode({"data": {"e": [{"n": [bad]}]}}, pieces=pieces)


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


def test_no_garbage_collection_runs_while_a_query_runs(world: World) -> None:
    """The collector waits until the answer is built and encoded (collector.py)."""
    from reconcile.server.store.teams import find_user
    from tests.server.admin.test_serve_limits import _populate, pages

    _populate(world.db, 300)
    service = world.client.app.state.service
    with world.db.read() as con:
        user = find_user(con, "admin")
    assert user is not None
    watched = {GraphQLService._run.__code__, encode.__code__}
    during: list[int] = []  # generations collected while the query ran or was encoded

    def seen(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe(1)
        while phase == "start" and frame is not None:
            if frame.f_code in watched:
                during.append(info["generation"])
                return
            frame = frame.f_back

    gc.enable()
    gc.callbacks.append(seen)
    try:
        status, content = service.respond(user, pages(4), None, None)
    finally:
        gc.callbacks.remove(seen)
    assert status == 200
    assert len(json.loads(content)["data"]["entity"]["p3"]["edges"]) == 300
    assert during == []
    assert gc.isenabled() is True
