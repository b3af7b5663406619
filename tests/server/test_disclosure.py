"""What the live server gives away: no credentials echoed, one spelling per id, and no
difference between an object the caller may not see and one that does not exist."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.helpers import CREATE_TRIGGER, World, trigger_input, webhook

UPDATE_TRIGGER = """
mutation ($id: ID!) { updateFilterTrigger(input: {id: $id, enabled: false}) { trigger { id } } }
"""
DELETE_TRIGGER = "mutation ($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }"
UPDATE_WEBHOOK = """
mutation ($id: ID!) { updateGenericWebhookIntegration(input: {id: $id, name: "x"}) {
  integration { id } } }
"""
DELETE_INTEGRATION = "mutation ($id: ID!) { deleteIntegration(input: {id: $id}) { success } }"
INSERT_SECRET = """
mutation ($e: String!) { insertSecret(input: {entityName: $e, secretName: "S", secretValue: "v"})
  { success } }
"""
UPSERT = """
mutation ($e: String!) { upsertModel(input: {entityName: $e, name: "vision"}) { inserted } }
"""
READ = """
query ($e: String!) { entity(name: $e) { name } project(entityName: $e, name: "vision") { id } }
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_key_sent_without_a_scheme_is_not_echoed(live_world: World) -> None:
    key = live_world.admin.key
    for header in (key, f"{key} {key}", f"Token {key}"):
        response = live_world.client.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": header}
        )
        assert response.status_code == 401
        assert key not in response.text
        assert response.json()["errors"][0]["message"] == (
            "unsupported authorization scheme: use Basic or Bearer"
        )


@pytest.mark.parametrize(
    "spelling",
    [
        "Project: 1",
        "Project:1 ",
        "Project:01",
        "Project:+1",
        "Project:0_1",
        "Project:\u0661",  # ARABIC-INDIC DIGIT ONE
        "Project:\uff11",  # FULLWIDTH DIGIT ONE
    ],
)
def test_an_id_has_one_spelling(live_world: World, spelling: str) -> None:
    assert live_world.project_id == _b64("Project:1")
    other = _b64(spelling)
    created = live_world.admin.fails(CREATE_TRIGGER, trigger_input(other))
    assert created == f"BAD_USER_INPUT: invalid id {other!r}"
    assert live_world.admin.ok('{ entity(name: "acme") { triggers { edges { cursor } } } }') == {
        "entity": {"triggers": {"edges": []}}
    }


def test_base64_variants_of_an_id_are_refused(live_world: World) -> None:
    # The last character before "=" carries two unused bits: four spellings, one id.
    canonical = live_world.collection_id
    assert canonical == "QXJ0aWZhY3RDb2xsZWN0aW9uOjE="
    variant = canonical[:-2] + "F="
    assert base64.b64decode(variant) == base64.b64decode(canonical)
    variables = trigger_input(variant, scopeType="ARTIFACT_COLLECTION")
    assert live_world.admin.fails(CREATE_TRIGGER, variables) == (
        f"BAD_USER_INPUT: invalid id {variant!r}"
    )


def _acme_objects(world: World) -> dict[str, str]:
    hook = webhook(world.admin)
    made = world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook))
    return {
        "trigger": made["result"]["trigger"]["id"],
        "webhook": hook,
        "project": world.project_id,
        "collection": world.collection_id,
    }


UNUSED = {
    "trigger": _b64("Trigger:999"),
    "webhook": _b64("Integration:999"),
    "project": _b64("Project:999"),
    "collection": _b64("ArtifactCollection:999"),
}


def _by_id(world: World, kind: str, object_id: str) -> Any:
    calls: dict[str, Callable[[], Any]] = {
        "update trigger": lambda: world.outsider.post(UPDATE_TRIGGER, {"id": object_id}),
        "delete trigger": lambda: world.outsider.post(DELETE_TRIGGER, {"id": object_id}),
        "update webhook": lambda: world.outsider.post(UPDATE_WEBHOOK, {"id": object_id}),
        "delete webhook": lambda: world.outsider.post(DELETE_INTEGRATION, {"id": object_id}),
        "trigger in project": lambda: world.outsider.post(CREATE_TRIGGER, trigger_input(object_id)),
        "trigger in collection": lambda: world.outsider.post(
            CREATE_TRIGGER, trigger_input(object_id, scopeType="ARTIFACT_COLLECTION")
        ),
    }
    return calls[kind]()


TARGETS = {
    "update trigger": "trigger",
    "delete trigger": "trigger",
    "update webhook": "webhook",
    "delete webhook": "webhook",
    "trigger in project": "project",
    "trigger in collection": "collection",
}


def test_hidden_objects_answer_exactly_as_missing_ones(live_world: World) -> None:
    """olga administers another team: to her, acme's objects do not exist."""
    existing = _acme_objects(live_world)
    answers = {}
    for operation, kind in TARGETS.items():
        hidden = _by_id(live_world, operation, existing[kind])
        missing = _by_id(live_world, operation, UNUSED[kind])
        assert (hidden.status_code, hidden.text) == (missing.status_code, missing.text)
        answers[operation] = (hidden.status_code, hidden.json()["errors"][0]["message"])
    assert answers == {
        "update trigger": (404, "automation not found"),
        "delete trigger": (404, "automation not found"),
        "update webhook": (200, "integration not found"),
        "delete webhook": (200, "integration not found"),
        "trigger in project": (200, "project not found"),
        "trigger in collection": (200, "artifact collection not found"),
    }


def test_a_hidden_team_answers_as_a_missing_one(live_world: World) -> None:
    outsider = live_world.outsider
    for query in (INSERT_SECRET, UPSERT):
        hidden = outsider.post(query, {"e": "acme"})
        missing = outsider.post(query, {"e": "nope"})
        assert hidden.status_code == missing.status_code == 200
        assert hidden.text == missing.text.replace("nope", "acme")
        assert hidden.json()["errors"][0]["message"] == "entity 'acme' not found"
    assert outsider.ok(READ, {"e": "acme"}) == outsider.ok(READ, {"e": "nope"})
    assert outsider.ok(READ, {"e": "acme"}) == {"entity": None, "project": None}
    assert outsider.ok(READ, {"e": "other"})["entity"] == {"name": "other"}
