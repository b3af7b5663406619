"""Names, sizes, JSON and webhook URLs the live server refuses, each with its reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.helpers import (
    CREATE_TRIGGER,
    CREATE_WEBHOOK,
    TEAM,
    World,
    basic,
    trigger_input,
    webhook,
)

UPSERT = """
mutation ($n: String!, $d: String) { upsertModel(input: {name: $n, entityName: "acme",
  description: $d}) { inserted } }
"""
TRIGGER_NAMES = '{ entity(name: "acme") { triggers { edges { node { name } } } } }'


def _trigger_names(world: World) -> list[str]:
    edges = world.admin.ok(TRIGGER_NAMES)["entity"]["triggers"]["edges"]
    return [edge["node"]["name"] for edge in edges]


@pytest.mark.parametrize(
    ("name", "code_point", "position"),
    [
        ("deploy\x85now", "U+0085", 6),  # C1 NEXT LINE
        ("deploy\x7f", "U+007F", 6),  # DEL
        ("abc\u202egpj.exe", "U+202E", 3),  # RIGHT-TO-LEFT OVERRIDE
        ("\u2066x\u2069", "U+2066", 0),  # LEFT-TO-RIGHT ISOLATE
        ("a\x1bb", "U+001B", 1),  # ESC (C0)
    ],
)
def test_control_and_bidi_characters_in_names(
    live_world: World, name: str, code_point: str, position: int
) -> None:
    reason = f"control or bidirectional character {code_point} at position {position}"
    variables = trigger_input(live_world.project_id, name=name)
    assert live_world.admin.fails(CREATE_TRIGGER, variables) == (
        f"BAD_USER_INPUT: invalid automation name: {reason}"
    )
    assert live_world.admin.fails(UPSERT, {"n": name}) == (
        f"BAD_USER_INPUT: invalid project name: {reason}"
    )
    assert _trigger_names(live_world) == []


def test_a_trailing_newline_is_not_part_of_a_valid_name(live_world: World) -> None:
    hook = {"entityName": TEAM, "name": "deploy\n", "urlEndpoint": "https://h.example/"}
    assert live_world.admin.fails(CREATE_WEBHOOK, {"input": hook}) == (
        "BAD_USER_INPUT: invalid webhook name: control or bidirectional character U+000A "
        "at position 6"
    )
    collection = """
    mutation ($n: String!) { createArtifactCollection(input: {entityName: "acme",
      projectName: "vision", name: $n, artifactTypeName: "model"}) { artifactCollection { name } } }
    """
    assert live_world.admin.fails(collection, {"n": "prod\n"}).startswith(
        "BAD_USER_INPUT: invalid collection name"
    )


def _payload(world: World, hook_id: str, payload: str) -> dict[str, Any]:
    variables = trigger_input(world.project_id, hook_id)
    variables["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        payload
    )
    return variables


def test_documented_size_limits(live_world: World) -> None:
    hook_id = webhook(live_world.admin)
    admin = live_world.admin
    at_limit = trigger_input(live_world.project_id, name="long", description="d" * 4096)
    assert admin.ok(CREATE_TRIGGER, at_limit)["result"]["trigger"]["name"] == "long"
    over = trigger_input(live_world.project_id, name="longer", description="d" * 4097)
    assert admin.fails(CREATE_TRIGGER, over) == (
        "BAD_USER_INPUT: description is 4097 characters long; the limit is 4096"
    )
    assert admin.fails(UPSERT, {"n": "big", "d": "d" * 4097}) == (
        "BAD_USER_INPUT: description is 4097 characters long; the limit is 4096"
    )
    big_filter = json.dumps({"alias": {"$regex": "a" * 70_000}})
    over_filter = trigger_input(live_world.project_id, name="f", eventFilter=big_filter)
    assert admin.fails(CREATE_TRIGGER, over_filter) == (
        f"BAD_USER_INPUT: eventFilter is {len(big_filter)} characters long; the limit is 65536"
    )
    big_payload = json.dumps({"text": "p" * 70_000})
    assert admin.fails(CREATE_TRIGGER, _payload(live_world, hook_id, big_payload)) == (
        f"BAD_USER_INPUT: requestPayload is {len(big_payload)} characters long; the limit is 65536"
    )
    assert _trigger_names(live_world) == ["long"]


NOT_JSON = [
    ('{"alias": NaN}', "NaN is not JSON"),
    ('{"alias": -Infinity}', "-Infinity is not JSON"),
    ('{"alias": 1e999}', "1e999 is out of range"),
]


def test_nan_and_infinity_are_not_json(live_world: World) -> None:
    hook_id = webhook(live_world.admin)
    headers = {**basic(live_world.admin.key), "content-type": "application/json"}
    for text, reason in NOT_JSON:
        in_filter = trigger_input(live_world.project_id, eventFilter=text)
        assert live_world.admin.fails(CREATE_TRIGGER, in_filter) == (
            f"BAD_USER_INPUT: eventFilter is not valid JSON: {reason}"
        )
        in_payload = _payload(live_world, hook_id, text)
        assert live_world.admin.fails(CREATE_TRIGGER, in_payload) == (
            f"BAD_USER_INPUT: requestPayload is not valid JSON: {reason}"
        )
        body = '{"query": "{ viewer { id } }", "variables": ' + text + "}"
        response = live_world.client.post("/graphql", content=body.encode(), headers=headers)
        assert (response.status_code, response.json()["errors"][0]["message"]) == (400, reason)
    assert _trigger_names(live_world) == []


CREDENTIALS = "credentials in the URL are not allowed; use accessTokenRef"
BAD_URLS = [
    ("https://h.example:99999/", "not a valid URL (Port out of range 0-65535)"),
    ("https://h.example:0/", "port 0 is not a valid port"),
    ("https://h.example:http/", "not a valid URL (Port could not be cast to integer value"),
    ("https://h.example/x\r\nX-Injected: 1", "control characters and spaces are not allowed"),
    ("https://h.example/a b", "control characters and spaces are not allowed"),
    ("https://user:pw@h.example/", CREDENTIALS),
    ("https://token@h.example/", CREDENTIALS),
    ("ftp://h.example/", "an http(s) URL with a host"),
]
UPDATE_WEBHOOK = """
mutation ($input: UpdateGenericWebhookIntegrationInput!) {
  updateGenericWebhookIntegration(input: $input) { integration { id } } }
"""


def test_webhook_urls_are_checked_as_the_inventory_does(live_world: World) -> None:
    hook_id = webhook(live_world.admin)
    for url, reason in BAD_URLS:
        refused = f"BAD_USER_INPUT: invalid urlEndpoint {url!r}: {reason}"
        hook = {"entityName": TEAM, "name": "h", "urlEndpoint": url}
        assert live_world.admin.fails(CREATE_WEBHOOK, {"input": hook}).startswith(refused)
        changed = {"input": {"id": hook_id, "urlEndpoint": url}}
        assert live_world.admin.fails(UPDATE_WEBHOOK, changed).startswith(refused)
    hooks = '{ entity(name: "acme") { integrations { edges { node { id } } } } }'
    assert live_world.admin.ok(hooks)["entity"]["integrations"]["edges"] == [
        {"node": {"id": hook_id}}
    ]
