"""GraphQL behaviour through our own client: webhooks, secrets, triggers, W&B's quirks."""

from __future__ import annotations

import json

import pytest

from tests.server.helpers import (
    ALIAS_FILTER,
    CREATE_TRIGGER,
    CREATE_WEBHOOK,
    TEAM,
    World,
    trigger_input,
    webhook,
)

SECRETS = "query ($e: String!) { entity(name: $e) { secrets { name createdAt } } }"
INSERT_SECRET = """
mutation ($e: String!, $n: String!, $v: String!) {
  insertSecret(input: {entityName: $e, secretName: $n, secretValue: $v}) { success }
}
"""
DELETE_SECRET = """
mutation ($e: String!, $n: String!) {
  deleteSecret(input: {entityName: $e, secretName: $n}) { success }
}
"""
INTEGRATIONS = """
query ($e: String!, $after: String, $first: Int) {
  entity(name: $e) {
    integrations(after: $after, first: $first) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename ... on GenericWebhookIntegration {
        id name urlEndpoint secretRef accessTokenRef } } }
    }
  }
}
"""
UPDATE_WEBHOOK = """
mutation ($input: UpdateGenericWebhookIntegrationInput!) {
  updateGenericWebhookIntegration(input: $input) {
    integration { ... on GenericWebhookIntegration { name urlEndpoint secretRef accessTokenRef } }
  }
}
"""
DELETE_INTEGRATION = "mutation ($id: ID!) { deleteIntegration(input: {id: $id}) { success } }"
TRIGGERS = """
query ($e: String!, $after: String, $first: Int, $filters: JSONString) {
  entity(name: $e) {
    triggers(after: $after, first: $first, filters: $filters) {
      pageInfo { endCursor hasNextPage }
      edges { node { id name description enabled
        event: triggeringCondition {
          ... on FilterEventTriggeringCondition { eventType filter } } } }
    }
  }
}
"""
UPDATE_TRIGGER = """
mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { name enabled description
    triggeringCondition { ... on FilterEventTriggeringCondition { filter } } } }
}
"""
DELETE_TRIGGER = "mutation ($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }"


def _secret_names(world: World) -> list[str]:
    return [s["name"] for s in world.admin.ok(SECRETS, {"e": TEAM})["entity"]["secrets"]]


def test_secrets_are_write_only_and_encrypted_at_rest(world: World) -> None:
    canary = "canary-value-7f3a9"
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "HOOK_KEY", "v": canary})
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "HOOK_KEY", "v": canary + "-rotated"})
    assert _secret_names(world) == ["HOOK_KEY"]
    # The schema has no field that could return a value.
    message = world.admin.fails('{ entity(name: "acme") { secrets { value } } }', status=400)
    assert "Cannot query field 'value'" in message
    files = [path for path in world.db.path.parent.iterdir() if path.is_file()]
    assert world.db.path in files  # a scan of nothing would prove nothing
    for path in files:
        assert canary.encode() not in path.read_bytes(), path


def test_secret_delete_and_refusals(world: World) -> None:
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "TOKEN", "v": "t"})
    bad = world.admin.fails(INSERT_SECRET, {"e": TEAM, "n": "bad-name", "v": "x"})
    assert bad.startswith("BAD_USER_INPUT: invalid secret name 'bad-name'")
    webhook(world.admin, accessTokenRef="TOKEN")
    in_use = world.admin.fails(DELETE_SECRET, {"e": TEAM, "n": "TOKEN"})
    assert in_use == "CONFLICT: secret 'TOKEN' is used by webhook(s) deploy"
    missing = world.admin.fails(DELETE_SECRET, {"e": TEAM, "n": "NOPE"})
    assert missing == "NOT_FOUND: secret 'NOPE' not found"
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "SPARE", "v": "s"})
    assert world.admin.ok(DELETE_SECRET, {"e": TEAM, "n": "SPARE"})["deleteSecret"]["success"]
    assert _secret_names(world) == ["TOKEN"]


def test_webhook_create_list_update_delete(world: World) -> None:
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "SIGNING", "v": "s"})
    world.admin.ok(INSERT_SECRET, {"e": TEAM, "n": "TOKEN", "v": "t"})
    hook_id = webhook(world.admin, "deploy hook", secretRef="SIGNING", accessTokenRef="TOKEN")
    listed = world.admin.ok(INTEGRATIONS, {"e": TEAM})["entity"]["integrations"]["edges"]
    assert listed == [
        {
            "node": {
                "__typename": "GenericWebhookIntegration",
                "id": hook_id,
                "name": "deploy hook",
                "urlEndpoint": "https://hooks.example/x",
                "secretRef": "SIGNING",
                "accessTokenRef": "TOKEN",
            }
        }
    ]
    # Absent fields stay; an explicit null clears a reference.
    changed = world.admin.ok(
        UPDATE_WEBHOOK,
        {"input": {"id": hook_id, "urlEndpoint": "https://b.example/", "secretRef": None}},
    )["updateGenericWebhookIntegration"]["integration"]
    assert changed == {
        "name": "deploy hook",
        "urlEndpoint": "https://b.example/",
        "secretRef": None,
        "accessTokenRef": "TOKEN",
    }
    assert world.admin.ok(DELETE_INTEGRATION, {"id": hook_id})["deleteIntegration"]["success"]
    assert world.admin.ok(INTEGRATIONS, {"e": TEAM})["entity"]["integrations"]["edges"] == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"name": "bad/name"}, "BAD_USER_INPUT: invalid webhook name 'bad/name'"),
        ({"name": "x" * 65}, "BAD_USER_INPUT: invalid webhook name"),
        ({"urlEndpoint": "ftp://x"}, "BAD_USER_INPUT: invalid urlEndpoint 'ftp://x'"),
        ({"secretRef": "MISSING"}, "BAD_USER_INPUT: secret 'MISSING' does not exist"),
    ],
)
def test_webhook_input_is_validated(world: World, extra: dict[str, str], expected: str) -> None:
    body = {"entityName": TEAM, "name": "ok", "urlEndpoint": "https://a.example/", **extra}
    assert world.admin.fails(CREATE_WEBHOOK, {"input": body}).startswith(expected)


def test_webhook_in_use_and_duplicate_are_refused(world: World) -> None:
    hook_id = webhook(world.admin)
    assert world.admin.fails(
        CREATE_WEBHOOK,
        {"input": {"entityName": TEAM, "name": "deploy", "urlEndpoint": "https://a.example/"}},
    ) == ("CONFLICT: a webhook named 'deploy' already exists")
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook_id))
    used = world.admin.fails(DELETE_INTEGRATION, {"id": hook_id})
    assert used == "CONFLICT: the webhook is used by automation(s) promote"


def test_integrations_paginate(world: World) -> None:
    for index in range(5):
        webhook(world.admin, f"hook-{index}")
    names, cursor, pages = [], None, 0
    while pages < 10:
        page = world.admin.ok(INTEGRATIONS, {"e": TEAM, "first": 2, "after": cursor})
        conn = page["entity"]["integrations"]
        names += [e["node"]["name"] for e in conn["edges"]]
        cursor, pages = conn["pageInfo"]["endCursor"], pages + 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
    assert (names, pages) == ([f"hook-{i}" for i in range(5)], 3)


def test_artifact_filters_read_back_wrapped_and_run_filters_as_sent(world: World) -> None:
    hook_id = webhook(world.admin)
    created = world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook_id))
    trigger = created["result"]["trigger"]
    assert json.loads(trigger["event"]["filter"]) == {"filter": json.loads(ALIAS_FILTER)}
    assert trigger["scope"] == {"__typename": "Project", "id": world.project_id, "name": "vision"}
    assert trigger["action"]["__typename"] == "GenericWebhookTriggeredAction"
    assert trigger["action"]["integration"]["__typename"] == "GenericWebhookIntegration"
    assert json.loads(trigger["action"]["requestPayload"]) == {"alias": "${alias}"}
    run_filter = '{"run_filter":"{\\"$and\\":[]}","run_state_filter":{"states":["FAILED"]}}'
    run = trigger_input(
        world.project_id,
        hook_id,
        name="failed",
        triggeringEventType="RUN_STATE",
        eventFilter=run_filter,
    )
    assert world.admin.ok(CREATE_TRIGGER, run)["result"]["trigger"]["event"]["filter"] == run_filter


def test_duplicate_name_is_409_and_missing_update_is_404(world: World) -> None:
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id))
    duplicate = world.admin.fails(CREATE_TRIGGER, trigger_input(world.project_id), status=409)
    assert duplicate == "CONFLICT: an automation named 'promote' already exists"
    gone = {"input": {"id": "VHJpZ2dlcjo5OTk=", "enabled": False}}  # Trigger:999
    assert world.admin.fails(UPDATE_TRIGGER, gone, status=404) == "NOT_FOUND: automation not found"
    assert world.admin.fails(DELETE_TRIGGER, {"id": "VHJpZ2dlcjo5OTk="}, status=404)


def test_update_keeps_what_is_left_out_and_a_failed_mutation_changes_nothing(world: World) -> None:
    trigger_id = world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id))["result"][
        "trigger"
    ]["id"]
    world.admin.ok(UPDATE_TRIGGER, {"input": {"id": trigger_id, "enabled": False}})
    bad = {"input": {"id": trigger_id, "description": "changed", "eventFilter": "[1]"}}
    assert (
        world.admin.fails(UPDATE_TRIGGER, bad)
        == "BAD_USER_INPUT: eventFilter must be a JSON object"
    )
    node = world.admin.ok(TRIGGERS, {"e": TEAM})["entity"]["triggers"]["edges"][0]["node"]
    assert (node["enabled"], node["description"]) == (False, "managed-by: reconcile")
    assert json.loads(node["event"]["filter"]) == {"filter": json.loads(ALIAS_FILTER)}
    assert world.admin.ok(DELETE_TRIGGER, {"id": trigger_id})["deleteTrigger"]["success"]
    assert world.admin.ok(TRIGGERS, {"e": TEAM})["entity"]["triggers"]["edges"] == []


def test_triggers_filter_by_name_and_paginate(world: World) -> None:
    for index in range(5):
        world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, name=f"t{index}"))
    one = world.admin.ok(TRIGGERS, {"e": TEAM, "filters": '{"name": "t3"}'})
    assert [e["node"]["name"] for e in one["entity"]["triggers"]["edges"]] == ["t3"]
    page = world.admin.ok(TRIGGERS, {"e": TEAM, "first": 3})["entity"]["triggers"]
    rest = world.admin.ok(TRIGGERS, {"e": TEAM, "first": 3, "after": page["pageInfo"]["endCursor"]})
    names = [e["node"]["name"] for e in page["edges"] + rest["entity"]["triggers"]["edges"]]
    assert names == ["t0", "t1", "t2", "t3", "t4"]
    assert not rest["entity"]["triggers"]["pageInfo"]["hasNextPage"]
    bad = world.admin.fails(TRIGGERS, {"e": TEAM, "filters": '{"owner": "x"}'})
    assert bad.startswith("BAD_USER_INPUT: filters supports only")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"triggeringEventType": "CREATE_ARTIFACT"}, "event CREATE_ARTIFACT needs a scope of type"),
        ({"eventFilter": "not json"}, "eventFilter is not valid JSON"),
        (
            {"eventFilter": '{"alias": {"$regex": "(?=x)"}}'},
            "eventFilter.alias.$regex: invalid RE2 regex '(?=x)'",
        ),
        (
            {"eventFilter": '{"alias": {"$like": "x"}}'},
            "eventFilter.alias.$like: unknown operator $like",
        ),
        (
            {"triggeringEventType": "RUN_STATE", "eventFilter": '{"run_state_filter": {}}'},
            "eventFilter.run_state_filter.states: a non-empty list of RUNNING, FINISHED, FAILED",
        ),
        (
            {"triggeringEventType": "RUN_METRIC", "eventFilter": "{}"},
            "eventFilter.run_metric_filter: RUN_METRIC needs {'threshold_filter': {...}}",
        ),
        ({"name": ""}, "automation name must be 1 to 255 characters"),
        ({"triggeredActionType": "QUEUE_JOB"}, "action type QUEUE_JOB is not supported"),
        ({"triggeredActionType": "NOTIFICATION"}, "must set exactly notificationActionInput"),
        ({"triggeringEventType": "UPDATE_ARTIFACT_ALIAS"}, "cannot be used in new automations"),
        ({"scopeID": "UHJvamVjdDo5OTk="}, "project not found"),
    ],
)
def test_trigger_input_is_validated(world: World, changes: dict[str, str], expected: str) -> None:
    variables = trigger_input(world.project_id, **changes)
    assert expected in world.admin.fails(CREATE_TRIGGER, variables)


def test_payload_must_be_an_object_and_webhook_of_the_team(world: World) -> None:
    hook_id = webhook(world.admin)
    variables = trigger_input(world.project_id, hook_id)
    variables["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        "[1]"
    )
    assert world.admin.fails(CREATE_TRIGGER, variables) == (
        "BAD_USER_INPUT: requestPayload must be a JSON object"
    )
    run_in_registry = trigger_input(
        world.registry_id,
        hook_id,
        triggeringEventType="RUN_STATE",
        eventFilter='{"run_state_filter":{"states":["FAILED"]}}',
    )
    assert "which registries do not have" in world.admin.fails(CREATE_TRIGGER, run_in_registry)


def test_empty_operation_name_is_absent_and_bad_requests_are_4xx(world: World) -> None:
    body = {"query": "query Viewer { viewer { username } }", "operationName": ""}
    headers = {"Authorization": f"Bearer {world.admin.key}"}
    response = world.client.post("/graphql", json=body, headers=headers)
    assert response.json() == {"data": {"viewer": {"username": "admin"}}}
    assert world.client.post("/graphql", content=b"{not json", headers=headers).status_code == 400
    two_ops = {"query": "query A { viewer { id } } query B { viewer { id } }"}
    assert world.client.post("/graphql", json=two_ops, headers=headers).status_code == 400
    assert world.admin.fails("{ viewer { nope } }", status=400).startswith("None: Cannot query")


def test_depth_and_size_limits(world: World) -> None:
    # viewer, then 4 x (projects, edges, node, entity), then id: 18 levels.
    deep = "{ viewer { " + "projects { edges { node { entity { " * 4 + "id" + " }" * 17 + " }"
    assert "query depth 18 exceeds the limit of 15" in world.admin.fails(deep, status=400)
    huge = {"query": "{ viewer { id } }", "variables": {"pad": "x" * 2_000_000}}
    headers = {"Authorization": f"Bearer {world.admin.key}"}
    assert world.client.post("/graphql", json=huge, headers=headers).status_code == 413


def test_project_registry_and_collection_creation(world: World) -> None:
    upsert = """
    mutation ($n: String!) { upsertModel(input: {name: $n, entityName: "acme"}) {
      project { id name entityName } inserted } }
    """
    first = world.admin.ok(upsert, {"n": "nlp"})["upsertModel"]
    again = world.member.ok(upsert, {"n": "nlp"})["upsertModel"]
    assert (first["inserted"], again["inserted"], again["project"]["id"]) == (
        True,
        False,
        first["project"]["id"],
    )
    collection = """
    mutation { createArtifactCollection(input: {entityName: "acme", projectName: "nlp",
      name: "tagger", artifactTypeName: "model"}) { artifactCollection { __typename name } } }
    """
    made = world.admin.ok(collection)["createArtifactCollection"]["artifactCollection"]
    assert made == {"__typename": "ArtifactSequence", "name": "tagger"}
    in_team = world.admin.fails(upsert, {"n": "wandb-registry-data"})
    assert in_team == (
        "BAD_USER_INPUT: registries belong to the organization: create wandb-registry-data "
        "in the entity acme-org"
    )
    in_org = upsert.replace('"acme"', '"acme-org"')
    refused = world.member.fails(in_org, {"n": "wandb-registry-data"})
    assert refused == (
        "FORBIDDEN: permission denied: only admins of the teams of acme-org's organization "
        "create registries"
    )
    assert world.admin.fails(in_org, {"n": "nlp"}) == (
        "BAD_USER_INPUT: acme-org is an organization's entity: it holds registries only "
        "(wandb-registry-NAME)"
    )
    created = world.admin.ok(in_org, {"n": "wandb-registry-data"})["upsertModel"]
    assert created["inserted"]
    assert created["project"]["name"] == "wandb-registry-data"
    assert created["project"]["entityName"] == "acme-org"


@pytest.mark.parametrize(
    "event",
    [
        "UNLINK_ARTIFACT",
        "ADD_ARTIFACT_TAG",
        "REMOVE_ARTIFACT_TAG",
        "ADD_COLLECTION_TAG",
        "REMOVE_COLLECTION_TAG",
    ],
)
def test_artifact_events_take_projects_collections_the_team_and_the_org_entity(
    world: World, event: str
) -> None:
    tag = '{"$or": [{"$and": [{"tag": {"$regex": "^gold"}}]}]}'
    on = {"triggeringEventType": event, "eventFilter": tag}
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, name=f"p-{event}", **on))
    collection = trigger_input(
        world.collection_id, name=f"c-{event}", scopeType="ARTIFACT_COLLECTION", **on
    )
    world.admin.ok(CREATE_TRIGGER, collection)
    for entity in ("acme", "acme-org"):
        entity_id = world.admin.ok(f'{{ entity(name: "{entity}") {{ id }} }}')["entity"]["id"]
        made = trigger_input(entity_id, name=f"{entity}-{event}", scopeType="ENTITY", **on)
        scope = world.admin.ok(CREATE_TRIGGER, made)["result"]["trigger"]["scope"]
        assert scope == {"__typename": "Entity", "id": entity_id, "name": entity}


def test_artifact_created_and_run_events_on_an_entity_scope_are_refused_where_w_and_b_does(
    world: World,
) -> None:
    team_id = world.admin.ok('{ entity(name: "acme") { id } }')["entity"]["id"]
    org_id = world.admin.ok('{ entity(name: "acme-org") { id } }')["entity"]["id"]
    created = trigger_input(
        team_id, name="created", scopeType="ENTITY", triggeringEventType="CREATE_ARTIFACT"
    )
    assert world.admin.fails(CREATE_TRIGGER, created) == (
        "BAD_USER_INPUT: event CREATE_ARTIFACT needs a scope of type ARTIFACT_COLLECTION, "
        "not ENTITY"
    )
    state = '{"run_filter": "{\\"$and\\": []}", "run_state_filter": {"states": ["FAILED"]}}'
    on_runs = trigger_input(
        org_id, name="runs", scopeType="ENTITY", triggeringEventType="RUN_STATE", eventFilter=state
    )
    # An organization's entity holds registries only, which have no runs.
    assert world.admin.fails(CREATE_TRIGGER, on_runs) == (
        "BAD_USER_INPUT: event RUN_STATE watches runs, which registries do not have"
    )
    on_team = trigger_input(
        team_id, name="runs", scopeType="ENTITY", triggeringEventType="RUN_STATE", eventFilter=state
    )
    world.admin.ok(CREATE_TRIGGER, on_team)
