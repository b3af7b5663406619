"""The official `wandb` SDK manages registries, their members and collections, reads
teams and projects, and finds registry automations, against a live server.

One server for the module; each test uses its own registry names. Users: `admin`
(admin of team acme: an organization admin), `mia` (member of acme), `pat` (member of
acme and of beta, a second team of acme's organization, where admin is a member too),
`reg` (admin of registry
`models`), `olga` (admin of team `other`, another organization).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import wandb

from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database
from tests.server.helpers import ORG_ENTITY, TEAM, InProcess, build_world, sdk_environment
from tests.server.live import LiveServer, running


@dataclass
class Apis:
    live: LiveServer
    db: Database
    admin: Any
    mia: Any
    pat: Any
    reg: Any
    olga: Any


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apis]:
    root = tmp_path_factory.mktemp("sdk-registries")
    with running(root / "server.db") as live:
        world = build_world(InProcess(live.app))
        admin.ensure_team(world.db, "beta", organization=TEAM)
        admin.set_role(world.db, "beta", "pat", "member")
        admin.set_role(world.db, "beta", admin.DEFAULT_ADMIN, "member")
        keys = {"pat": world.project_admin.key, "reg": world.registry_admin.key}
        with pytest.MonkeyPatch.context() as env:
            for name, value in sdk_environment(live.url, world.admin.key, root / "home").items():
                env.setenv(name, value)
            yield Apis(
                live=live,
                db=world.db,
                admin=wandb.Api(),
                mia=wandb.Api(api_key=world.member.key),
                pat=wandb.Api(api_key=keys["pat"]),
                reg=wandb.Api(api_key=keys["reg"]),
                olga=wandb.Api(api_key=world.outsider.key),
            )
            wandb.teardown()


def _user_id(api: Any, username: str) -> str:
    """A user's id as the SDK finds it: among the members of `api.team('acme')`."""
    (found,) = [m.id for m in api.team(TEAM).members if m.username == username]
    return str(found)


def _members(registry: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    users = [(m.user.username, str(m.role)) for m in registry.user_members()]
    teams = [(m.team.name, str(m.role)) for m in registry.team_members()]
    return users, teams


def _role(value: Any) -> str:
    return str(getattr(value, "value", value))


def test_create_registry_keeps_types_and_restricted_visibility(apis: Apis) -> None:
    made = apis.admin.create_registry(
        "datasets", visibility="restricted", description="d", artifact_types=["dataset", "table"]
    )
    read = apis.admin.registry("datasets")
    for registry in (made, read):
        assert (registry.visibility, registry.description) == ("restricted", "d")
        assert (list(registry.artifact_types), registry.allow_all_artifact_types) == (
            ["dataset", "table"],
            False,
        )
    # The creator of a registry is its admin member, as in W&B.
    assert [(m.user.username, _role(m.role)) for m in read.user_members()] == [("admin", "admin")]
    open_one = apis.admin.create_registry("open", visibility="organization")
    assert (open_one.visibility, open_one.allow_all_artifact_types) == ("organization", True)
    assert list(apis.admin.registry("open").artifact_types) == []


def test_save_keeps_description_visibility_and_added_types(apis: Apis) -> None:
    apis.admin.create_registry("evals", visibility="organization", description="before")
    registry = apis.admin.registry("evals")
    registry.description = "after"
    registry.visibility = "restricted"
    registry.allow_all_artifact_types = False
    registry.artifact_types.append("eval-set")
    registry.save()
    read = apis.admin.registry("evals")
    assert (read.description, read.visibility, read.allow_all_artifact_types) == (
        "after",
        "restricted",
        False,
    )
    assert list(read.artifact_types) == ["eval-set"]
    read.artifact_types.append("report")
    read.save()
    assert list(apis.admin.registry("evals").artifact_types) == ["eval-set", "report"]
    read.visibility = "organization"
    read.save()
    assert apis.mia.registry("evals").visibility == "organization"


def test_rename_moves_the_registry_and_its_automations(apis: Apis) -> None:
    from wandb.automations import OnLinkArtifact, SendWebhook

    apis.admin.create_registry("staging", visibility="organization")
    registry = apis.admin.registry("staging")
    hook = {"entityName": TEAM, "name": "rename-hook", "urlEndpoint": "https://h.example/"}
    _graphql(apis, apis.admin.api_key, CREATE_WEBHOOK, {"i": hook})
    (webhook,) = [
        w for w in apis.admin.webhook_integrations(entity=TEAM) if w.name == "rename-hook"
    ]
    action = SendWebhook.from_integration(webhook)
    apis.admin.create_automation(OnLinkArtifact(scope=registry) >> action, name="on-staging")
    registry.name = "staged"
    registry.save()
    assert (registry.name, registry.full_name) == ("staged", "wandb-registry-staged")
    assert apis.admin.registry("staged").id == registry.id
    with pytest.raises(ValueError, match="Failed to load registry 'staging'"):
        apis.admin.registry("staging")
    scope = apis.admin.automation("on-staging", entity=ORG_ENTITY).scope
    assert (scope.id, scope.name) == (registry.id, "wandb-registry-staged")


def test_delete_removes_the_registry_and_its_automations(apis: Apis) -> None:
    from wandb.automations import DoNothing, OnLinkArtifact

    apis.admin.create_registry("scratch", visibility="organization")
    registry = apis.admin.registry("scratch")
    apis.admin.create_automation(OnLinkArtifact(scope=registry) >> DoNothing(), name="on-scratch")
    with pytest.raises(ValueError, match="Failed to delete registry 'scratch'"):
        apis.mia.registry("scratch").delete()  # a viewer
    registry.delete()
    with pytest.raises(ValueError, match="Failed to load registry 'scratch'"):
        apis.admin.registry("scratch")
    with pytest.raises(ValueError, match="No automations found"):
        apis.admin.automation("on-scratch", entity=ORG_ENTITY)
    with pytest.raises(ValueError, match="Failed to delete registry 'scratch'"):
        registry.delete()  # gone


def test_members_are_added_given_roles_and_removed(apis: Apis) -> None:
    registry = apis.admin.create_registry("shared", visibility="restricted")
    beta = apis.admin.team("beta")
    registry.add_members(_user_id(apis.admin, "mia"), beta)
    assert _members(registry) == (
        [("admin", "admin"), ("mia", "viewer")],
        [("beta", "viewer")],
    )
    registry.update_member(_user_id(apis.admin, "mia"), role="member")
    registry.update_member(beta, role="admin")
    assert _members(registry) == (
        [("admin", "admin"), ("mia", "member")],
        [("beta", "admin")],
    )
    # pat is in beta: beta's role makes pat an admin of the registry.
    as_pat = apis.pat.registry("shared")
    as_pat.description = "by pat"
    as_pat.save()
    registry.remove_members(beta, _user_id(apis.admin, "mia"))
    assert _members(registry) == ([("admin", "admin")], [])
    with pytest.raises(ValueError, match="Failed to load registry 'shared'"):
        apis.pat.registry("shared")


def test_a_restricted_registry_is_seen_by_its_members_only(apis: Apis) -> None:
    from wandb.automations import DoNothing, OnLinkArtifact

    registry = apis.admin.create_registry("secret", visibility="restricted")
    apis.admin.create_automation(OnLinkArtifact(scope=registry) >> DoNothing(), name="on-secret")
    with pytest.raises(ValueError, match="Failed to load registry 'secret'"):
        apis.mia.registry("secret")
    with pytest.raises(wandb.errors.CommError, match="Organization 'acme' not found"):
        apis.olga.registry("secret", organization=TEAM)
    assert "secret" not in {r.name for r in apis.mia.registries()}
    assert "on-secret" not in {a.name for a in apis.mia.automations(entity=ORG_ENTITY)}
    assert "on-secret" not in {a.name for a in apis.mia.automations()}
    registry.add_members(_user_id(apis.admin, "mia"))
    assert apis.mia.registry("secret").visibility == "restricted"
    assert "secret" in {r.name for r in apis.mia.registries()}
    assert "on-secret" in {a.name for a in apis.mia.automations(entity=ORG_ENTITY)}
    seen = apis.mia.registry("secret")
    seen.description = "a viewer may not"
    with pytest.raises(ValueError, match="Failed to save registry 'secret'"):
        seen.save()
    with pytest.raises(Exception, match="only admins of registry wandb-registry-secret"):
        seen.add_members(_user_id(apis.admin, "pat"))


def test_team_reads_its_profile_and_members(apis: Apis) -> None:
    team = apis.mia.team(TEAM)
    assert (team.name, team.is_team, team.entity_type, team.photo_url) == (
        TEAM,
        True,
        "team",
        None,
    )
    assert (team.read_only_admin, team.storage_bytes, team.is_paid, team.default_access) == (
        False,
        0,
        False,
        "PRIVATE",
    )
    roles = {m.username: (m.admin, m.pending, m.account_type, m.api_key) for m in team.members}
    assert roles == {
        "admin": (True, False, "USER", None),
        "mia": (False, False, "USER", None),
        "pat": (False, False, "USER", None),
        "reg": (False, False, "USER", None),
    }
    with pytest.raises(KeyError, match="members"):  # the SDK's failure for a null entity
        apis.olga.team(TEAM).load()


def test_automations_without_an_entity_find_registry_automations(apis: Apis) -> None:
    from wandb.automations import DoNothing, OnLinkArtifact

    registry = apis.admin.registry("models")
    link = OnLinkArtifact(scope=registry) >> DoNothing()
    apis.admin.create_automation(link, name="on-models-link")
    assert apis.mia.automation("on-models-link").scope.id == registry.id
    assert "on-models-link" in {a.name for a in apis.mia.automations()}
    with pytest.raises(ValueError, match="No automations found"):
        apis.olga.automation("on-models-link")


def test_projects_artifact_types_and_collections(apis: Apis) -> None:
    admin.ensure_collection(apis.db, TEAM, "vision", "train-set", "dataset")
    assert [p.name for p in apis.mia.projects(TEAM)] == ["vision"]
    assert [p.name for p in apis.olga.projects(TEAM)] == []
    assert [t.name for t in apis.mia.artifact_types(f"{TEAM}/vision")] == ["dataset", "model"]
    assert apis.mia.artifact_type("dataset", f"{TEAM}/vision").name == "dataset"
    with pytest.raises(wandb.errors.CommError, match="Could not find artifact type 'absent'"):
        apis.mia.artifact_type("absent", f"{TEAM}/vision")
    collections = apis.mia.artifact_collections(f"{TEAM}/vision", "dataset")
    assert [(c.name, c.type) for c in collections] == [("train-set", "dataset")]
    assert len(collections) == 1
    models = apis.mia.artifact_type("model", f"{TEAM}/vision").collections()
    assert [c.name for c in models] == ["detector"]


def test_collection_save_keeps_description_and_tags(apis: Apis) -> None:
    path = f"{ORG_ENTITY}/wandb-registry-models/prod-detector"
    collection = apis.reg.artifact_collection("model", path)
    collection.description = "the detector"
    collection.tags = ["gold", "fast"]
    collection.save()
    read = apis.mia.artifact_collection("model", path)
    assert (read.description, sorted(read.tags)) == ("the detector", ["fast", "gold"])
    read.tags = ["fast"]
    with pytest.raises(Exception, match="permission denied"):
        read.save()  # mia is a viewer of `models`
    collection.tags = ["fast", "new one"]
    collection.save()
    read = apis.mia.artifact_collection("model", path)
    assert sorted(read.tags) == ["fast", "new one"]
    with apis.db.read() as con:
        rows = con.execute(
            "SELECT type, document FROM events WHERE type LIKE 'collection_tag_%' ORDER BY id"
        ).fetchall()
    fired = [(r["type"], json.loads(r["document"])["tag"]) for r in rows]
    assert sorted(fired[:2]) == [("collection_tag_added", "fast"), ("collection_tag_added", "gold")]
    assert fired[2:] == [("collection_tag_added", "new one"), ("collection_tag_removed", "gold")]


CREATE_WEBHOOK = """mutation ($i: CreateGenericWebhookIntegrationInput!) {
  createGenericWebhookIntegration(input: $i) { integration { __typename } } }"""


def _graphql(apis: Apis, key: str, query: str, variables: dict[str, Any]) -> None:
    from tests.server.helpers import Api

    Api(InProcess(apis.live.app), key).ok(query, variables)


def test_a_team_admin_removes_a_member_with_member_delete(apis: Apis) -> None:
    """`Member.delete` sends W&B's `deleteInvite` with the member's id and its team."""
    admin.ensure_team(apis.db, "gamma", organization=TEAM)
    for username, role in ((admin.DEFAULT_ADMIN, "admin"), ("mia", "member"), ("pat", "member")):
        admin.set_role(apis.db, "gamma", username, role)

    def member(api: Any, username: str) -> Any:
        (found,) = [m for m in api.team("gamma").members if m.username == username]
        return found

    assert member(apis.mia, "pat").delete() is False  # mia is not gamma's admin
    assert member(apis.admin, "pat").delete() is True
    assert sorted(m.username for m in apis.admin.team("gamma").members) == ["admin", "mia"]
