"""Who may do what: every role against every operation (reliability.md S6, S11).

To an outsider the team does not exist: reads answer null and writes "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.server.helpers import CREATE_TRIGGER, CREATE_WEBHOOK, TEAM, Api, World, trigger_input

ROLES = ("admin", "project_admin", "registry_admin", "member", "outsider")

READ_TRIGGERS = 'query { entity(name: "acme") { triggers { edges { node { name } } } } }'
READ_HOOKS = 'query { entity(name: "acme") { integrations { edges { node { id } } } } }'
READ_SECRETS = 'query { entity(name: "acme") { secrets { name } } }'
INSERT_SECRET = """
mutation { insertSecret(input: {entityName: "acme", secretName: "S", secretValue: "v"}) {
  success } }
"""
DELETE_TRIGGER = "mutation ($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }"
UPSERT = """
mutation ($n: String!) { upsertModel(input: {name: $n, entityName: "acme"}) {
  project { name } inserted } }
"""
# Registries are projects of the organization's entity (acme's is acme-org).
UPSERT_REGISTRY = UPSERT.replace('"acme"', '"acme-org"')
REGISTRY_REFUSED = (
    "FORBIDDEN: permission denied: only admins of the teams of acme-org's organization "
    "create registries"
)
COLLECTION = """
mutation ($p: String!) { createArtifactCollection(input: {entityName: "acme", projectName: $p,
  name: "c-x", artifactTypeName: "model"}) { artifactCollection { name } } }
"""


def _create_webhook(world: World, api: Api) -> Any:
    body = {"entityName": TEAM, "name": "hook-x", "urlEndpoint": "https://h.example/"}
    return api.post(CREATE_WEBHOOK, {"input": body})


def _scope(kind: str) -> Callable[[World], str]:
    return {
        "project": lambda w: w.project_id,
        "registry": lambda w: w.registry_id,
    }[kind]


def _outcome(response: Any) -> str:
    body = response.json()
    if "errors" in body:
        return str(body["errors"][0]["extensions"]["code"])
    return "null" if None in body["data"].values() else "ok"


# expected outcome per role, in ROLES order
MATRIX: dict[str, tuple[str, ...]] = {
    "read automations": ("ok", "ok", "ok", "ok", "null"),
    "read webhooks": ("ok", "ok", "ok", "ok", "null"),
    "read secrets": ("ok", "ok", "ok", "ok", "null"),
    "read project": ("ok", "ok", "ok", "ok", "null"),
    "write secret": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "create webhook": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "automation in project": ("ok", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "automation in registry": ("ok", "FORBIDDEN", "ok", "FORBIDDEN", "NOT_FOUND"),
    "automation in collection": ("ok", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "automation in registry collection": ("ok", "FORBIDDEN", "ok", "FORBIDDEN", "NOT_FOUND"),
    "automation on the team": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "create project": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "create registry": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "create registry in capitals": ("ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "upsert existing project": ("ok", "ok", "ok", "ok", "NOT_FOUND"),
    "collection in project": ("ok", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"),
    "collection in registry": ("ok", "FORBIDDEN", "ok", "FORBIDDEN", "NOT_FOUND"),
}


def _run(world: World, api: Api, operation: str) -> Any:
    run_state = {
        "triggeringEventType": "RUN_STATE",
        "eventFilter": '{"run_state_filter": {"states": ["FAILED"]}}',
    }
    creates: dict[str, Callable[[], dict[str, Any]]] = {
        "automation in project": lambda: trigger_input(world.project_id),
        "automation in registry": lambda: trigger_input(world.registry_id),
        "automation in collection": lambda: trigger_input(
            world.collection_id, scopeType="ARTIFACT_COLLECTION"
        ),
        "automation in registry collection": lambda: trigger_input(
            world.registry_collection_id, scopeType="ARTIFACT_COLLECTION"
        ),
        "automation on the team": lambda: trigger_input(
            _team_id(world), scopeType="ENTITY", **run_state
        ),
    }
    if operation in creates:
        variables = creates[operation]()
        variables["input"]["name"] = f"by-{api.key[-8:]}"  # one name per caller
        return api.post(CREATE_TRIGGER, variables)
    suffix = api.key[-8:].lower()  # one new name per caller
    return {
        "read automations": lambda: api.post(READ_TRIGGERS),
        "read webhooks": lambda: api.post(READ_HOOKS),
        "read secrets": lambda: api.post(READ_SECRETS),
        "read project": lambda: api.post('{ project(name: "vision", entityName: "acme") { id } }'),
        "write secret": lambda: api.post(INSERT_SECRET),
        "create webhook": lambda: _create_webhook(world, api),
        "create project": lambda: api.post(UPSERT, {"n": f"p-{suffix}"}),
        "create registry": lambda: api.post(UPSERT_REGISTRY, {"n": f"wandb-registry-r-{suffix}"}),
        "create registry in capitals": lambda: api.post(
            UPSERT_REGISTRY, {"n": f"WANDB-Registry-{suffix}"}
        ),
        "upsert existing project": lambda: api.post(UPSERT, {"n": "vision"}),
        "collection in project": lambda: api.post(COLLECTION, {"p": "vision"}),
        "collection in registry": lambda: api.post(
            COLLECTION.replace('"acme"', '"acme-org"'), {"p": "wandb-registry-models"}
        ),
    }[operation]()


def _team_id(world: World) -> str:
    data = world.admin.ok('{ entity(name: "acme") { id } }')
    team_id: str = data["entity"]["id"]
    return team_id


@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_role_matrix(world: World, operation: str) -> None:
    outcomes = tuple(_outcome(_run(world, getattr(world, role), operation)) for role in ROLES)
    assert dict(zip(ROLES, outcomes, strict=True)) == dict(
        zip(ROLES, MATRIX[operation], strict=True)
    )


def test_update_and_delete_need_rights_on_the_scope(world: World) -> None:
    created = world.admin.ok(CREATE_TRIGGER, trigger_input(world.registry_id))
    trigger_id = created["result"]["trigger"]["id"]
    update = """
    mutation ($id: ID!) { updateFilterTrigger(input: {id: $id, enabled: false}) {
      trigger { enabled } } }
    """
    for api in (world.member, world.project_admin):
        assert api.fails(update, {"id": trigger_id}).startswith("FORBIDDEN: permission denied")
        assert api.fails(DELETE_TRIGGER, {"id": trigger_id}).startswith("FORBIDDEN")
    # To an outsider it does not exist: the same 404 as for an automation never created.
    for query in (update, DELETE_TRIGGER):
        hidden = world.outsider.fails(query, {"id": trigger_id}, status=404)
        assert hidden == "NOT_FOUND: automation not found"
    assert world.registry_admin.ok(update, {"id": trigger_id})["updateFilterTrigger"][
        "trigger"
    ] == {"enabled": False}
    # A registry admin cannot move an automation into a project it does not administer.
    move = {"input": {"id": trigger_id, "scopeType": "PROJECT", "scopeID": world.project_id}}
    moved = world.registry_admin.fails(
        "mutation ($input: UpdateFilterTriggerInput!) { updateFilterTrigger(input: $input) {"
        " trigger { id } } }",
        move,
    )
    assert moved == (
        "FORBIDDEN: permission denied: only admins of project vision or of team acme "
        "can manage its automations"
    )
    assert world.registry_admin.ok(DELETE_TRIGGER, {"id": trigger_id})["deleteTrigger"]["success"]


def test_an_automation_does_not_exist_to_whoever_may_not_see_its_scope(world: World) -> None:
    """An outsider's update or delete of a team's automation, and a team member's of one
    in a restricted registry it is not a member of: the same 404 as for an automation
    never created, not the team's or the registry's."""
    update = """mutation ($id: ID!) { updateFilterTrigger(input: {id: $id, enabled: false}) {
      trigger { enabled } } }"""
    run_state = {
        "triggeringEventType": "RUN_STATE",
        "eventFilter": '{"run_state_filter": {"states": ["FAILED"]}}',
    }
    on_team = trigger_input(_team_id(world), scopeType="ENTITY", name="on-team", **run_state)
    team_wide = world.admin.ok(CREATE_TRIGGER, on_team)["result"]["trigger"]["id"]
    in_registry = world.admin.ok(CREATE_TRIGGER, trigger_input(world.registry_id))["result"]
    world.admin.ok(
        """mutation { upsertModel(input: {entityName: "acme-org",
          name: "wandb-registry-models", access: "RESTRICTED"}) { project { access } } }"""
    )
    for api, trigger_id in (
        (world.outsider, team_wide),
        (world.member, in_registry["trigger"]["id"]),
    ):
        for query in (update, DELETE_TRIGGER):
            assert api.fails(query, {"id": trigger_id}, status=404) == (
                "NOT_FOUND: automation not found"
            )
    assert world.member.fails(update, {"id": team_wide}) == (
        "FORBIDDEN: permission denied: only admins of team acme can manage its automations"
    )
    # Nor does the registry itself: a collection in it is refused as in no registry.
    collection = COLLECTION.replace('"acme"', '"acme-org"')
    assert world.member.fails(collection, {"p": "wandb-registry-models"}) == (
        "NOT_FOUND: project not found"
    )


def test_refusals_say_who_and_what(world: World) -> None:
    message = world.member.fails(INSERT_SECRET)
    assert message == "FORBIDDEN: permission denied: only admins of team acme can manage secrets"
    assert world.member.fails(UPSERT_REGISTRY, {"n": "Wandb-Registry-x"}) == REGISTRY_REFUSED
    assert world.admin.fails(UPSERT, {"n": "Wandb-Registry-x"}) == (
        "BAD_USER_INPUT: registries belong to the organization: create Wandb-Registry-x in "
        "the entity acme-org"
    )
    assert world.member.fails(UPSERT, {"n": "nlp"}) == (
        "FORBIDDEN: permission denied: only admins of team acme create projects"
    )
    assert world.outsider.fails(INSERT_SECRET) == "NOT_FOUND: entity 'acme' not found"
    assert world.project_admin.fails(CREATE_TRIGGER, trigger_input(world.registry_id)) == (
        "FORBIDDEN: permission denied: only admins of registry wandb-registry-models or of "
        "team acme-org can manage its automations"
    )
    assert world.outsider.ok(READ_TRIGGERS) == {"entity": None}


def test_unknown_or_missing_key_is_401(world: World) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer local-" + "x" * 40},
        {"Authorization": "Digest x"},
    ):
        response = world.client.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


PROJECTS = "query ($e: String) { entity(name: $e) { projects { edges { node { name } } } } }"


def _project_names(world: World, entity: str = "acme") -> list[str]:
    edges = world.admin.ok(PROJECTS, {"e": entity})["entity"]["projects"]["edges"]
    return [edge["node"]["name"] for edge in edges]


def test_members_create_no_projects_or_registries_on_the_live_server(live_world: World) -> None:
    before = _project_names(live_world)
    registries = _project_names(live_world, "acme-org")
    assert (before, registries) == (["vision"], ["wandb-registry-models"])
    refused = live_world.member.fails(UPSERT, {"n": "nlp"})
    assert refused == "FORBIDDEN: permission denied: only admins of team acme create projects"
    for name in ("wandb-registry-x", "WANDB-REGISTRY-x"):
        assert live_world.member.fails(UPSERT_REGISTRY, {"n": name}) == REGISTRY_REFUSED
    assert _project_names(live_world) == before
    assert _project_names(live_world, "acme-org") == registries


def test_registry_names_compare_without_case(live_world: World) -> None:
    same = live_world.admin.ok(UPSERT_REGISTRY, {"n": "WANDB-Registry-Models"})["upsertModel"]
    assert same == {"project": {"name": "wandb-registry-models"}, "inserted": False}
    made = live_world.admin.ok(UPSERT_REGISTRY, {"n": "WANDB-REGISTRY-caps"})["upsertModel"]
    assert made == {"project": {"name": "WANDB-REGISTRY-caps"}, "inserted": True}
    found = live_world.admin.ok(
        '{ project(entityName: "acme-org", name: "wandb-registry-CAPS") { id name } }'
    )["project"]
    # A registry, whatever its spelling: run events are refused in it.
    run_state = trigger_input(
        found["id"],
        triggeringEventType="RUN_STATE",
        eventFilter='{"run_state_filter": {"states": ["FAILED"]}}',
    )
    assert live_world.admin.fails(CREATE_TRIGGER, run_state) == (
        "BAD_USER_INPUT: event RUN_STATE watches runs, which registries do not have"
    )
