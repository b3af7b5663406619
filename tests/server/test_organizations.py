"""Organizations: the org entity holds the registries; who may read and write there."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.server.admin import tasks as admin
from reconcile.server.store import db as db_module
from reconcile.server.store.db import Database
from tests.server.helpers import (
    CREATE_TRIGGER,
    CREATE_WEBHOOK,
    ORG_ENTITY,
    Api,
    World,
    trigger_input,
)

ORG_TRIGGERS = 'query { entity(name: "acme-org") { triggers { edges { node { name } } } } }'
ORG_OF = """
query ($e: String!) { entity(name: $e) { name entityType isTeam
  organization { name orgEntity { name entityType } } } }
"""


def test_a_team_and_its_org_entity_answer_their_organization(world: World) -> None:
    team = world.member.ok(ORG_OF, {"e": "acme"})["entity"]
    org_entity = world.member.ok(ORG_OF, {"e": ORG_ENTITY})["entity"]
    expected = {"name": "acme", "orgEntity": {"name": ORG_ENTITY, "entityType": "organization"}}
    assert team == {"name": "acme", "entityType": "team", "isTeam": True, "organization": expected}
    assert org_entity == {
        "name": ORG_ENTITY,
        "entityType": "organization",
        "isTeam": False,
        "organization": expected,
    }
    # olga is in team `other` only, whose organization is `other`: acme's are hidden.
    assert world.outsider.ok(ORG_OF, {"e": ORG_ENTITY}) == {"entity": None}
    assert world.outsider.ok('{ organization(name: "acme") { id } }') == {"organization": None}
    assert world.outsider.ok('{ organization(name: "other") { orgEntity { name } } }') == {
        "organization": {"orgEntity": {"name": "other-org"}}
    }


def test_registry_automations_belong_to_the_org_entity(world: World) -> None:
    hook = {"entityName": "acme", "name": "reg-hook", "urlEndpoint": "https://h.example/"}
    made = world.admin.ok(CREATE_WEBHOOK, {"input": hook})
    hook_id = made["createGenericWebhookIntegration"]["integration"]["id"]
    world.registry_admin.ok(CREATE_TRIGGER, trigger_input(world.registry_id, hook_id))
    assert world.member.ok(ORG_TRIGGERS)["entity"]["triggers"]["edges"] == [
        {"node": {"name": "promote"}}
    ]
    team_triggers = 'query { entity(name: "acme") { triggers { edges { node { name } } } } }'
    assert world.member.ok(team_triggers)["entity"]["triggers"]["edges"] == []
    # The name is unique per entity: the team may hold an automation of the same name.
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook_id))


MOVE = """mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) {
    trigger { name scope { __typename ... on Project { id } } } } }"""


def test_a_move_to_a_registry_changes_the_owner_and_keeps_names_unique_there(
    world: World,
) -> None:
    hook = {"entityName": "acme", "name": "reg-hook", "urlEndpoint": "https://h.example/"}
    made = world.admin.ok(CREATE_WEBHOOK, {"input": hook})
    hook_id = made["createGenericWebhookIntegration"]["integration"]["id"]
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.registry_id, hook_id, name="taken"))
    on_team = trigger_input(world.project_id, hook_id, name="taken")
    trigger_id = world.admin.ok(CREATE_TRIGGER, on_team)["result"]["trigger"]["id"]
    move = {"id": trigger_id, "scopeType": "PROJECT", "scopeID": world.registry_id}
    assert world.admin.fails(MOVE, {"input": move}, status=409) == (
        "CONFLICT: an automation named 'taken' already exists"
    )
    moved = world.admin.ok(MOVE, {"input": {**move, "name": "moved"}})["updateFilterTrigger"]
    assert moved["trigger"] == {
        "name": "moved",
        "scope": {"__typename": "Project", "id": world.registry_id},
    }
    names = [
        e["node"]["name"] for e in world.member.ok(ORG_TRIGGERS)["entity"]["triggers"]["edges"]
    ]
    assert names == ["taken", "moved"]
    team_triggers = 'query { entity(name: "acme") { triggers { edges { node { name } } } } }'
    assert world.member.ok(team_triggers)["entity"]["triggers"]["edges"] == []


def test_a_registry_may_not_use_another_organizations_webhook(world: World) -> None:
    hook = {"entityName": "other", "name": "elsewhere", "urlEndpoint": "https://h.example/"}
    made = Api(world.client, world.outsider.key).ok(CREATE_WEBHOOK, {"input": hook})
    hook_id = made["createGenericWebhookIntegration"]["integration"]["id"]
    refused = world.admin.fails(CREATE_TRIGGER, trigger_input(world.registry_id, hook_id))
    assert refused == "NOT_FOUND: integration not found"  # as for one that never existed


def test_webhooks_and_secrets_are_not_made_on_an_org_entity(world: World) -> None:
    hook = {"entityName": ORG_ENTITY, "name": "h", "urlEndpoint": "https://h.example/"}
    assert world.admin.fails(CREATE_WEBHOOK, {"input": hook}) == (
        "BAD_USER_INPUT: acme-org is an organization's entity; webhooks and secrets belong "
        "to its teams"
    )


def test_migration_moves_a_teams_registries_and_their_automations(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        old.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS[:3])
        first = Database(db_path)
        with first.write() as con:
            stamp = "2026-01-01T00:00:00Z"
            for name in ("acme", "acme-org"):  # a team already named like an org entity
                con.execute("INSERT INTO entities (name, created_at) VALUES (?, ?)", (name, stamp))
            for project_id, name in ((1, "wandb-registry-model"), (2, "vision")):
                con.execute(
                    "INSERT INTO projects (id, entity_id, name, created_at) VALUES (?, 1, ?, ?)",
                    (project_id, name, stamp),
                )
            con.execute(
                "INSERT INTO collections (id, project_id, name, type_name, created_at) "
                "VALUES (7, 1, 'fraud', 'model', ?)",
                (stamp,),
            )
            for trigger_id, scope_type, scope_id in (
                (1, "PROJECT", 1),
                (2, "ARTIFACT_COLLECTION", 7),
                (3, "PROJECT", 2),
            ):
                con.execute(
                    "INSERT INTO triggers (id, entity_id, name, enabled, scope_type, scope_id, "
                    "event_type, event_filter, action_type, action_config, created_at, "
                    "updated_at) VALUES (?, 1, ?, 1, ?, ?, 'LINK_MODEL', '{}', 'NO_OP', '{}', "
                    "?, ?)",
                    (trigger_id, f"t{trigger_id}", scope_type, scope_id, stamp, stamp),
                )
        first.close()
    upgraded = Database(db_path)
    with upgraded.read() as con:
        entities = con.execute(
            "SELECT e.name, e.entity_type, o.name FROM entities e "
            "JOIN organizations o ON o.id = e.organization_id ORDER BY e.id"
        ).fetchall()
        projects = con.execute(
            "SELECT p.name, e.name FROM projects p JOIN entities e ON e.id = p.entity_id "
            "ORDER BY p.id"
        ).fetchall()
        triggers = con.execute(
            "SELECT t.name, e.name FROM triggers t JOIN entities e ON e.id = t.entity_id "
            "ORDER BY t.id"
        ).fetchall()
    upgraded.close()
    assert [tuple(row) for row in entities] == [
        ("acme", "team", "acme"),
        ("acme-org", "team", "acme-org"),
        ("acme-org-2", "organization", "acme"),
        ("acme-org-org", "organization", "acme-org"),
    ]
    assert [tuple(row) for row in projects] == [
        ("wandb-registry-model", "acme-org-2"),
        ("vision", "acme"),
    ]
    assert [tuple(row) for row in triggers] == [
        ("t1", "acme-org-2"),
        ("t2", "acme-org-2"),
        ("t3", "acme"),
    ]


def test_teams_of_one_organization_share_its_registries(db_path: Path) -> None:
    db = Database(db_path)
    admin.ensure_team(db, "vision", organization="acme-corp")
    admin.ensure_team(db, "nlp", organization="acme-corp")
    first = admin.ensure_registry(db, "vision", "model")
    assert admin.ensure_registry(db, "nlp", "model") == first
    assert first.entity_name == "acme-corp-org"
    db.close()
