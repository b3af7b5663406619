"""Bad input against the live server is a 4xx or a GraphQL error, never a 5xx (S10).

W&B clients retry 5xx many times, so each of these once looked like a server bug.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.server.helpers import CREATE_TRIGGER, TEAM, World, basic, trigger_input, webhook

TRIGGERS = """
query ($after: String, $first: Int, $filters: JSONString) {
  entity(name: "acme") { triggers(after: $after, first: $first, filters: $filters) {
    edges { node { name } } } }
}
"""
INSERT_SECRET = """
mutation ($v: String!) {
  insertSecret(input: {entityName: "acme", secretName: "S", secretValue: $v}) { success }
}
"""
DEEP = "[" * 5000 + "]" * 5000


def _raw(world: World, text: str) -> httpx.Response:
    """POST a body exactly as given (httpx cannot encode a lone surrogate itself)."""
    headers = {**basic(world.admin.key), "content-type": "application/json"}
    return world.client.post("/graphql", content=text.encode(), headers=headers)


def _error(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["errors"][0]
    return response.status_code, f"{error.get('extensions', {}).get('code')}: {error['message']}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        b"Basic \xff\xfe\xfd",  # not even ASCII
        b"Basic " + base64.b64encode(b"api:local-\xff\xfe"),  # credentials not in UTF-8
    ],
)
def test_malformed_basic_credentials_are_401(live_world: World, value: bytes) -> None:
    response = live_world.client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": value}
    )
    assert _error(response) == (401, "UNAUTHENTICATED: malformed Basic authorization header")


def test_variables_of_the_wrong_type_are_400(live_world: World) -> None:
    wrong_int = live_world.admin.post(TRIGGERS, {"first": "ten"})
    assert _error(wrong_int) == (
        400,
        "BAD_USER_INPUT: Variable '$first' got an invalid value; "
        "Int cannot represent non-integer value: 'ten'",
    )
    variables = trigger_input(live_world.project_id)
    variables["input"]["priority"] = 1
    unknown = live_world.admin.post(CREATE_TRIGGER, variables)
    assert _error(unknown) == (
        400,
        "BAD_USER_INPUT: Variable '$input' got an invalid value; "
        "Field 'priority' is not defined by type 'CreateFilterTriggerInput'.",
    )
    json_object = live_world.admin.post(TRIGGERS, {"filters": {"name": "x"}})
    assert _error(json_object) == (
        400,
        "BAD_USER_INPUT: Variable '$filters' got an invalid value; "
        "String cannot represent a non string value: {'name': 'x'}",
    )


def test_a_refused_variable_is_not_repeated(live_world: World) -> None:
    """The whole input would be: with a secret's value in it."""
    mutation = "mutation ($i: InsertSecretInput!) { insertSecret(input: $i) { success } }"
    given = {"entityName": TEAM, "secretName": "S", "secretValue": "canary-4417", "x": 1}
    response = live_world.admin.post(mutation, {"i": given})
    assert response.status_code == 400
    assert "canary-4417" not in response.text


@pytest.mark.parametrize("number", [2**63, 2**64 + 5, 10**30])
def test_ids_and_cursors_beyond_sqlite_integers(live_world: World, number: int) -> None:
    scope_id = _b64(f"Project:{number}")
    created = live_world.admin.post(CREATE_TRIGGER, trigger_input(scope_id))
    assert _error(created) == (200, f"BAD_USER_INPUT: invalid id '{scope_id}'")
    cursor = _b64(f"cursor:{number}")
    listed = live_world.admin.post(TRIGGERS, {"after": cursor})
    assert _error(listed) == (200, f"BAD_USER_INPUT: invalid cursor '{cursor}'")


def test_lone_surrogates_are_refused(live_world: World) -> None:
    refused = (400, "BAD_REQUEST: the body holds a lone surrogate (\\ud800-\\udfff)")
    secret = json.dumps({"query": INSERT_SECRET, "variables": {"v": "x\ud800"}})
    assert _error(_raw(live_world, secret)) == refused
    named = json.dumps({"query": CREATE_TRIGGER, "variables": trigger_input("x", name="\udc00")})
    assert _error(_raw(live_world, named)) == refused
    in_query = json.dumps({"query": '{ entity(name: "a\ud800") { name } }'})
    assert _error(_raw(live_world, in_query)) == refused
    assert live_world.admin.ok('{ entity(name: "acme") { secrets { name } } }') == {
        "entity": {"secrets": []}
    }


def test_deep_json_in_the_body_is_400(live_world: World) -> None:
    body = '{"query": "{ viewer { id } }", "variables": {"x": ' + DEEP + "}}"
    assert _error(_raw(live_world, body)) == (
        400,
        "BAD_REQUEST: the body nests deeper than 64 levels",
    )
    assert _error(_raw(live_world, DEEP)) == (
        400,
        "BAD_REQUEST: the body nests deeper than 64 levels",
    )
    # Shallow enough for Python's JSON decoder, too deep for the server.
    moderate = '{"query": "{ viewer { id } }", "variables": {"x": ' + "[" * 70 + "]" * 70 + "}}"
    assert _error(_raw(live_world, moderate)) == (
        400,
        "BAD_REQUEST: the body nests deeper than 64 levels",
    )
    at_limit = '{"query": "{ viewer { id } }", "variables": {"x": ' + "[" * 62 + "]" * 62 + "}}"
    assert _raw(live_world, at_limit).json() == {"data": {"viewer": {"id": "VXNlcjox"}}}


def _deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_deep_json_in_strings_is_a_graphql_error(live_world: World) -> None:
    hook_id = webhook(live_world.admin)
    deep = _deep_object(3000)
    cases: list[tuple[dict[str, Any], str]] = [
        (trigger_input(live_world.project_id, eventFilter=deep), "eventFilter"),
        (
            trigger_input(
                live_world.project_id,
                triggeringEventType="RUN_STATE",
                eventFilter=json.dumps(
                    {"run_filter": deep, "run_state_filter": {"states": ["FAILED"]}}
                ),
            ),
            "eventFilter.run_filter:",
        ),
    ]
    payload = trigger_input(live_world.project_id, hook_id)
    payload["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = deep
    cases.append((payload, "requestPayload"))
    for variables, field in cases:
        answer = _error(live_world.admin.post(CREATE_TRIGGER, variables))
        assert answer == (200, f"BAD_USER_INPUT: {field} nests deeper than 32 levels")
    filters = live_world.admin.post(TRIGGERS, {"filters": _deep_object(600)})
    assert _error(filters) == (200, "BAD_USER_INPUT: filters nests deeper than 32 levels")
    assert live_world.admin.ok(TRIGGERS)["entity"]["triggers"]["edges"] == []


def test_an_automation_scope_answers_its_nested_fields(live_world: World) -> None:
    live_world.admin.ok(CREATE_TRIGGER, trigger_input(live_world.project_id))
    query = """
    { entity(name: "acme") { triggers { edges { node { scope {
        __typename
        ... on Project { name entity { name members { username } } triggers { name } }
    } } } } } }
    """
    edges = live_world.member.ok(query)["entity"]["triggers"]["edges"]
    members = [{"username": name} for name in ("admin", "mia", "pat", "reg")]
    assert edges == [
        {
            "node": {
                "scope": {
                    "__typename": "Project",
                    "name": "vision",
                    "entity": {"name": "acme", "members": members},
                    "triggers": [{"name": "promote"}],
                }
            }
        }
    ]
    team_scope = """
    { entity(name: "acme") { triggers { edges { node { scope {
        ... on Entity { name members { username } triggers { edges { node { name } } } }
    } } } } } }
    """
    answer = live_world.member.post(team_scope)
    assert answer.status_code == 200
    assert "errors" not in answer.json()
