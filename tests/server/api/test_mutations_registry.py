"""Registry management over GraphQL: who may delete, rename, add members and change
roles and visibility, what bad input is told, and that a restricted registry does not
exist for those who are not its members (the same answers as for one never created).

World (tests/server/helpers.py): admin (admin of acme, so of its organization), mia,
pat and reg (members of acme; reg admin of registry `models`), olga (another org).
"""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.server.admin import tasks as admin
from reconcile.server.api.ids import encode_id
from tests.server.helpers import CREATE_TRIGGER, ORG_ENTITY, Api, World, trigger_input

UPSERT = """
mutation ($i: UpsertModelInput!) { upsertModel(input: $i) {
  inserted project { id name access description allowAllArtifactTypesInRegistry
    artifactTypes(includeAll: true) { edges { node { name } } } } } }
"""
DELETE = "mutation ($id: String!) { deleteModel(input: {id: $id}) { success } }"
RENAME = """
mutation ($old: String!, $new: String!) { renameProject(input: {entityName: "acme-org",
  oldProjectName: $old, newProjectName: $new}) { inserted project { name } } }
"""
ADD = """
mutation ($p: ID!, $u: [ID!], $t: [ID!]) { createProjectMembers(input: {projectId: $p,
  userIds: $u, teamIds: $t}) { success } }
"""
REMOVE = ADD.replace("createProjectMembers", "deleteProjectMembers")
ROLE = """
mutation ($p: ID!, $u: ID!, $r: String!) { updateProjectMember(input: {projectId: $p,
  userId: $u, userProjectRole: $r}) { success } }
"""
TEAM_ROLE = """
mutation ($p: ID!, $t: ID!, $r: String!) { updateProjectTeamMember(input: {projectId: $p,
  teamId: $t, teamProjectRole: $r}) { success } }
"""
MEMBERS = """
query ($n: String!) { project(name: $n, entityName: "acme-org") {
  members { username role { name } } teamMembers { team { name } role { name } } } }
"""
LISTED = 'query { entity(name: "acme-org") { projects { edges { node { name } } } } }'


def _registry(world: World, name: str, **settings: Any) -> str:
    data = world.admin.ok(
        UPSERT, {"i": {"entityName": ORG_ENTITY, "name": f"wandb-registry-{name}", **settings}}
    )
    project_id: str = data["upsertModel"]["project"]["id"]
    return project_id


def _user(world: World, username: str) -> str:
    with world.db.read() as con:
        row = con.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    return encode_id("User", int(row["id"]))


def _team(world: World, name: str) -> str:
    with world.db.read() as con:
        row = con.execute("SELECT id FROM entities WHERE name = ?", (name,)).fetchone()
    return encode_id("Entity", int(row["id"]))


def test_upsert_keeps_access_and_types_and_refuses_bad_settings(world: World) -> None:
    made = world.admin.ok(
        UPSERT,
        {
            "i": {
                "entityName": ORG_ENTITY,
                "name": "wandb-registry-vault",
                "access": "RESTRICTED",
                "allowAllArtifactTypesInRegistry": False,
                "artifactTypes": [{"name": "model"}, {"name": "model"}, {"name": "dataset"}],
            }
        },
    )["upsertModel"]
    assert made["inserted"] is True
    assert {k: v for k, v in made["project"].items() if k != "id"} == {
        "name": "wandb-registry-vault",
        "access": "RESTRICTED",
        "description": "",
        "allowAllArtifactTypesInRegistry": False,
        "artifactTypes": {"edges": [{"node": {"name": "model"}}, {"node": {"name": "dataset"}}]},
    }
    bad = {"entityName": ORG_ENTITY, "name": "wandb-registry-x"}
    assert world.admin.fails(UPSERT, {"i": {**bad, "access": "PUBLIC"}}) == (
        "BAD_USER_INPUT: invalid access 'PUBLIC' for a registry: PRIVATE (organization) "
        "or RESTRICTED"
    )
    reserved = {**bad, "artifactTypes": [{"name": "wandb-history"}]}
    assert world.admin.fails(UPSERT, {"i": reserved}) == (
        "BAD_USER_INPUT: artifact type 'wandb-history' is reserved for internal use"
    )
    many = {**bad, "artifactTypes": [{"name": f"t{n}"} for n in range(101)]}
    assert world.admin.fails(UPSERT, {"i": many}) == (
        "BAD_USER_INPUT: a registry accepts at most 100 artifact types"
    )
    on_project = {"entityName": "acme", "name": "p2", "artifactTypes": [{"name": "model"}]}
    assert world.admin.fails(UPSERT, {"i": on_project}) == (
        "BAD_USER_INPUT: artifactTypes are the accepted types of a registry, not of a project"
    )


def test_only_registry_admins_change_visibility_and_members_edit(world: World) -> None:
    _registry(world, "models2")
    change = {"entityName": ORG_ENTITY, "name": "wandb-registry-models2"}
    assert world.member.fails(UPSERT, {"i": {**change, "access": "RESTRICTED"}}) == (
        "FORBIDDEN: permission denied: only admins of registry wandb-registry-models2 can "
        "change its visibility (your registry role is viewer)"
    )
    assert world.member.fails(UPSERT, {"i": {**change, "description": "x"}}) == (
        "FORBIDDEN: permission denied: only admins and members of registry "
        "wandb-registry-models2 can edit its settings (your registry role is viewer)"
    )
    # Unchanged settings come back to any reader, as before.
    same = world.member.ok(UPSERT, {"i": change})["upsertModel"]
    assert (same["inserted"], same["project"]["access"]) == (False, "PRIVATE")


def test_a_restricted_registry_is_as_absent_to_non_members(world: World) -> None:
    vault = _registry(world, "vault", access="RESTRICTED")
    never = encode_id("Project", 999)
    for caller in (world.member, world.registry_admin, world.outsider):
        assert caller.ok(MEMBERS, {"n": "wandb-registry-vault"}) == {"project": None}
        assert caller.fails(DELETE, {"id": vault}) == caller.fails(DELETE, {"id": never})
        assert caller.fails(ADD, {"p": vault, "u": [_user(world, "mia")]}) == (
            "NOT_FOUND: project not found"
        )
        scope = trigger_input(vault, name="peek")
        assert caller.fails(CREATE_TRIGGER, scope) == "NOT_FOUND: project not found"
    names = [e["node"]["name"] for e in world.member.ok(LISTED)["entity"]["projects"]["edges"]]
    assert names == ["wandb-registry-models"]
    # The organization's admins see every registry; its creator is its admin member.
    assert world.admin.ok(MEMBERS, {"n": "wandb-registry-vault"})["project"] == {
        "members": [{"username": "admin", "role": {"name": "admin"}}],
        "teamMembers": [],
    }


def test_members_and_roles_refuse_bad_input(world: World) -> None:
    registry = world.registry_id  # `models`: reg is its admin
    mia, olga = _user(world, "mia"), _user(world, "olga")
    assert world.registry_admin.fails(ADD, {"p": registry, "u": [olga]}) == (
        f"NOT_FOUND: no user {olga} in this organization"
    )
    other, org = _team(world, "other"), _team(world, ORG_ENTITY)
    for team in (other, org):
        assert world.registry_admin.fails(ADD, {"p": registry, "t": [team]}) == (
            f"NOT_FOUND: no team {team} in this organization"
        )
    assert world.registry_admin.fails(ADD, {"p": registry}) == (
        "BAD_USER_INPUT: name at least one user (userIds) or team (teamIds) to add"
    )
    assert world.registry_admin.fails(ADD, {"p": world.project_id, "u": [mia]}) == (
        "BAD_USER_INPUT: vision is a project: members and roles belong to registries"
    )
    assert world.member.fails(ADD, {"p": registry, "u": [mia]}) == (
        "FORBIDDEN: permission denied: only admins of registry wandb-registry-models can add "
        "members (your registry role is viewer)"
    )
    assert world.registry_admin.fails(ROLE, {"p": registry, "u": mia, "r": "viewer"}) == (
        f"NOT_FOUND: no user {mia} among the members of wandb-registry-models"
    )
    world.registry_admin.ok(ADD, {"p": registry, "u": [mia]})
    assert world.registry_admin.fails(ROLE, {"p": registry, "u": mia, "r": "owner"}) == (
        "BAD_USER_INPUT: invalid registry role 'owner': one of admin, member, viewer, "
        "restricted_viewer"
    )
    assert world.registry_admin.fails(ADD, {"p": registry, "u": ["VXNlcjox "]}) == (
        "BAD_USER_INPUT: invalid id 'VXNlcjox '"
    )


def test_members_roles_and_removal_round_trip(world: World) -> None:
    db = world.db
    admin.ensure_team(db, "beta", organization="acme")
    admin.set_role(db, "beta", "mia", "member")
    registry = world.registry_id
    mia, beta = _user(world, "mia"), _team(world, "beta")
    world.registry_admin.ok(ADD, {"p": registry, "u": [mia, _user(world, "admin")], "t": [beta]})
    world.registry_admin.ok(ROLE, {"p": registry, "u": mia, "r": "restricted_viewer"})
    world.registry_admin.ok(TEAM_ROLE, {"p": registry, "t": beta, "r": "member"})
    assert world.member.ok(MEMBERS, {"n": "wandb-registry-models"})["project"] == {
        "members": [
            {"username": "admin", "role": {"name": "admin"}},  # an organization admin
            {"username": "mia", "role": {"name": "restricted_viewer"}},
            {"username": "reg", "role": {"name": "admin"}},
        ],
        "teamMembers": [{"team": {"name": "beta"}, "role": {"name": "member"}}],
    }
    # mia's strongest role (beta's member) lets her edit the registry's settings.
    change = {"entityName": ORG_ENTITY, "name": "wandb-registry-models", "description": "m"}
    assert world.member.ok(UPSERT, {"i": change})["upsertModel"]["project"]["description"] == "m"
    world.registry_admin.ok(REMOVE, {"p": registry, "u": [mia], "t": [beta]})
    assert world.member.fails(UPSERT, {"i": {**change, "description": "n"}}).startswith(
        "FORBIDDEN: permission denied: only admins and members"
    )


def test_delete_and_rename_refuse_what_they_may_not_do(world: World) -> None:
    _registry(world, "old")
    _registry(world, "taken")
    assert world.admin.fails(RENAME, {"old": "wandb-registry-old", "new": "plain"}) == (
        "BAD_USER_INPUT: a registry keeps its kind: wandb-registry-old cannot be renamed "
        "plain (registry names start with wandb-registry-)"
    )
    assert world.admin.fails(
        RENAME, {"old": "wandb-registry-old", "new": "wandb-registry-TAKEN"}
    ) == ("CONFLICT: a project named 'wandb-registry-taken' already exists in acme-org")
    assert world.admin.fails(
        RENAME, {"old": "wandb-registry-old", "new": "wandb-registry-a/b"}
    ) == (
        "BAD_USER_INPUT: invalid project name 'wandb-registry-a/b': 1-128 characters, "
        "none of / \\ # ? % :"
    )
    assert world.member.fails(RENAME, {"old": "wandb-registry-old", "new": "wandb-registry-m"}) == (
        "FORBIDDEN: permission denied: only admins and members of registry wandb-registry-old "
        "can rename it (your registry role is viewer)"
    )
    assert world.outsider.fails(
        RENAME, {"old": "wandb-registry-old", "new": "wandb-registry-o"}
    ) == ("NOT_FOUND: entity 'acme-org' not found")
    renamed = world.admin.ok(RENAME, {"old": "wandb-registry-old", "new": "wandb-registry-new"})
    assert renamed["renameProject"] == {
        "inserted": False,
        "project": {"name": "wandb-registry-new"},
    }
    assert world.member.fails(DELETE, {"id": world.registry_id}) == (
        "FORBIDDEN: permission denied: only admins of registry wandb-registry-models can delete "
        "it (your registry role is viewer)"
    )
    assert world.admin.fails(DELETE, {"id": world.collection_id}) == (
        f"BAD_USER_INPUT: id '{world.collection_id}' is not the id of a Project"
    )
    assert world.admin.ok(DELETE, {"id": world.registry_id}) == {"deleteModel": {"success": True}}
    assert world.admin.fails(DELETE, {"id": world.registry_id}) == "NOT_FOUND: project not found"


@pytest.mark.parametrize("caller", ["member", "outsider"])
def test_deleting_a_project_needs_its_admin(world: World, caller: str) -> None:
    expected = {
        "member": "FORBIDDEN: permission denied: only admins of project vision or of team acme "
        "can delete it",
        "outsider": "NOT_FOUND: project not found",
    }[caller]
    api: Api = getattr(world, caller)
    assert api.fails(DELETE, {"id": world.project_id}) == expected
    assert world.project_admin.ok(DELETE, {"id": world.project_id}) == {
        "deleteModel": {"success": True}
    }


CREATE_COLLECTION = """
mutation ($t: String!) { createArtifactCollection(input: {entityName: "acme-org",
  projectName: "wandb-registry-typed", name: "c1", artifactTypeName: $t}) {
  artifactCollection { name defaultArtifactType { name } } } }
"""


def test_a_registry_of_listed_types_refuses_other_collections(world: World) -> None:
    registry = _registry(world, "typed", artifactTypes=[{"name": "dataset"}])
    assert world.admin.fails(CREATE_COLLECTION, {"t": "model"}) == (
        "BAD_USER_INPUT: registry wandb-registry-typed does not accept artifact type 'model' "
        "(it accepts: dataset)"
    )
    mia = _user(world, "mia")
    world.admin.ok(ADD, {"p": registry, "u": [mia]})
    assert world.member.fails(CREATE_COLLECTION, {"t": "dataset"}).startswith(
        "FORBIDDEN: permission denied"  # a viewer
    )
    world.admin.ok(ROLE, {"p": registry, "u": mia, "r": "member"})
    made = world.member.ok(CREATE_COLLECTION, {"t": "dataset"})["createArtifactCollection"]
    assert made["artifactCollection"] == {"name": "c1", "defaultArtifactType": {"name": "dataset"}}


def test_upserting_a_hidden_registry_is_answered_as_creating_a_new_one(world: World) -> None:
    _registry(world, "vault", access="RESTRICTED")
    hidden = {"entityName": ORG_ENTITY, "name": "wandb-registry-vault"}
    new = {"entityName": ORG_ENTITY, "name": "wandb-registry-never"}
    assert world.member.fails(UPSERT, {"i": hidden}) == world.member.fails(UPSERT, {"i": new})
    assert world.member.fails(UPSERT, {"i": new}) == (
        "FORBIDDEN: permission denied: only admins of the teams of acme-org's organization "
        "create registries"
    )
