"""The official `wandb` SDK drives the embedded server over HTTP on 127.0.0.1.

One server for the module; each test uses its own automation names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

# A dev dependency, imported outright: without it the suite fails here, it never skips.
import wandb
import wandb.automations

from reconcile.apply import session
from reconcile.apply.target import Target
from reconcile.core import ownership
from reconcile.core.model import Event, Scope
from reconcile.inventory.load import load_inventory
from reconcile.server.admin import tasks as admin
from reconcile.server.api import cost
from tests.server.helpers import ORG_ENTITY, TEAM, InProcess, build_world, sdk_environment
from tests.server.live import LiveServer, running


@dataclass
class Sdk:
    api: Any
    member_api: Any
    webhook: Any
    project: Any
    registry: Any
    collection: Any
    registry_collection: Any


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, str]]:
    root = tmp_path_factory.mktemp("sdk")
    with running(root / "server.db") as live:
        world = build_world(InProcess(live.app))
        hook = {"entityName": TEAM, "name": "deploy", "urlEndpoint": "https://hooks.example/d"}
        world.admin.ok(
            "mutation ($i: CreateGenericWebhookIntegrationInput!) {"
            " createGenericWebhookIntegration(input: $i) { integration { __typename } } }",
            {"i": hook},
        )
        admin.ensure_slack_integration(world.db, TEAM, "alerts", slack_team="ml-org")
        yield live, world.admin.key, world.member.key


@pytest.fixture(scope="module")
def sdk(
    server: tuple[LiveServer, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sdk]:
    live, admin_key, member_key = server
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as env:
        for name, value in sdk_environment(live.url, admin_key, home).items():
            env.setenv(name, value)
        api = wandb.Api()
        yield Sdk(
            api=api,
            member_api=wandb.Api(api_key=member_key),
            webhook=next(iter(api.webhook_integrations(entity=TEAM))),
            project=api.project("vision", entity=TEAM),
            registry=api.registry("models"),
            collection=api.artifact_collection("model", f"{TEAM}/vision/detector"),
            registry_collection=api.artifact_collection(
                "model", f"{ORG_ENTITY}/wandb-registry-models/prod-detector"
            ),
        )
        wandb.teardown()


def _events(sdk: Sdk) -> dict[str, Any]:
    """One event per kind the issue names, on project, registry and collection scopes."""
    from wandb.automations import (
        ArtifactEvent,
        OnAddArtifactAlias,
        OnCreateArtifact,
        OnLinkArtifact,
        OnRunMetric,
        OnRunState,
        RunEvent,
    )

    return {
        "alias-regex-project": OnAddArtifactAlias(
            scope=sdk.project, filter=ArtifactEvent.alias.matches_regex("^prod$")
        ),
        "alias-regex-registry-collection": OnAddArtifactAlias(
            scope=sdk.registry_collection, filter=ArtifactEvent.alias.matches_regex("^v[0-9]+$")
        ),
        "created-collection": OnCreateArtifact(scope=sdk.collection),
        "linked-registry": OnLinkArtifact(scope=sdk.registry),
        "metric-threshold": OnRunMetric(
            scope=sdk.project, filter=RunEvent.metric("loss").avg(5) > 0.5
        ),
        "metric-change": OnRunMetric(
            scope=sdk.project, filter=RunEvent.metric("acc").changes_by(diff=0.1)
        ),
        "run-state": OnRunState(
            scope=sdk.project, filter=RunEvent.state.in_(["FAILED", "FINISHED"])
        ),
    }


def _send(sdk: Sdk) -> Any:
    from wandb.automations import SendWebhook

    return SendWebhook.from_integration(sdk.webhook, payload={"v": "${artifact_version_string}"})


def _wire(obj: Any) -> Any:
    return json.loads(obj.model_dump_json())


def test_api_authenticates_and_lists_the_team_webhooks(sdk: Sdk) -> None:
    assert sdk.api.default_entity == TEAM
    hooks = list(sdk.api.webhook_integrations(entity=TEAM))
    # The address without the fragment: the round trip through `export --adopt` (in this
    # module, in any order) marks the webhook as managed in its URL's fragment.
    read = [(h.name, h.url_endpoint.split("#")[0]) for h in hooks]
    assert read == [("deploy", "https://hooks.example/d")]
    assert sdk.project.id
    assert sdk.collection.is_sequence()
    assert not sdk.registry_collection.is_sequence()


# wandb 0.31 reads its own deprecated `legacy_metric_filter` attribute while building
# run-metric events; that DeprecationWarning is the SDK's, not ours.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_create_and_read_back_every_event_and_scope(sdk: Sdk) -> None:
    created = {
        name: sdk.api.create_automation(event >> _send(sdk), name=name, description=f"d-{name}")
        for name, event in _events(sdk).items()
    }
    in_team = {a.name: a for a in sdk.api.automations(entity=TEAM) if a.name in created}
    in_org = {a.name: a for a in sdk.api.automations(entity=ORG_ENTITY) if a.name in created}
    # A registry's automations belong to the organization's entity, not to the team.
    assert set(in_org) == {"alias-regex-registry-collection", "linked-registry"}
    assert set(in_team) == set(created) - set(in_org)
    listed = in_team | in_org
    for name, made in created.items():
        fetched = sdk.api.automation(name, entity=ORG_ENTITY if name in in_org else TEAM)
        for read in (fetched, listed[name]):
            assert _wire(read.event) == _wire(made.event), name
            assert _wire(read.scope) == _wire(made.scope), name
            assert read.action.request_payload == {"v": "${artifact_version_string}"}
            assert read.description == f"d-{name}"
    scopes = {name: type(a.scope).__name__ for name, a in listed.items()}
    assert scopes["linked-registry"] == "RegistryScope"
    assert scopes["alias-regex-project"] == "ProjectScope"
    assert "^prod$" in json.dumps(_wire(listed["alias-regex-project"].event))
    state = _wire(listed["run-state"].event)["filter"]
    assert "FAILED" in json.dumps(state)
    assert "FINISHED" in json.dumps(state)


def test_update_keeps_the_filter_and_delete_removes(sdk: Sdk) -> None:
    from wandb.automations import ArtifactEvent, OnAddArtifactAlias

    event = OnAddArtifactAlias(scope=sdk.project, filter=ArtifactEvent.alias.eq("staging"))
    made = sdk.api.create_automation(event >> _send(sdk), name="to-update")
    updated = sdk.api.update_automation(made, enabled=False, description="paused")
    again = sdk.api.automation("to-update", entity=TEAM)
    assert (updated.enabled, again.enabled, again.description) == (False, False, "paused")
    assert _wire(again.event) == _wire(made.event)
    assert "staging" in json.dumps(_wire(again.event))
    assert sdk.api.delete_automation(again) is True
    with pytest.raises(ValueError, match="No automations found"):
        sdk.api.automation("to-update", entity=TEAM)


def test_duplicate_name_fails(sdk: Sdk) -> None:
    from wandb.automations import OnLinkArtifact

    event = OnLinkArtifact(scope=sdk.registry)
    sdk.api.create_automation(event >> _send(sdk), name="only-once")
    with pytest.raises(wandb.errors.CommError, match="exists"):
        sdk.api.create_automation(event >> _send(sdk), name="only-once")


def test_member_reads_but_cannot_create(sdk: Sdk) -> None:
    from wandb.automations import OnLinkArtifact

    event = OnLinkArtifact(scope=sdk.registry)
    with pytest.raises(Exception, match="permission denied"):
        sdk.member_api.create_automation(event >> _send(sdk), name="not-allowed")
    names = {a.name for a in sdk.member_api.automations(entity=TEAM)}
    assert "not-allowed" not in names
    assert {"deploy"} == {h.name for h in sdk.member_api.webhook_integrations(entity=TEAM)}


def test_slack_notification_round_trip(sdk: Sdk) -> None:
    from wandb.automations import ArtifactEvent, OnAddArtifactAlias, SendNotification

    (slack,) = sdk.api.slack_integrations(entity=TEAM)
    assert (slack.team_name, slack.channel_name) == ("ml-org", "alerts")
    action = SendNotification(
        integration_id=slack.id, title="Promoted", text="${artifact_version_string}", level="WARN"
    )
    event = OnAddArtifactAlias(scope=sdk.project, filter=ArtifactEvent.alias.eq("prod"))
    made = sdk.api.create_automation(event >> action, name="slack-notify")
    read = sdk.api.automation("slack-notify", entity=TEAM)
    assert type(read.action).__name__ == "SavedNotificationAction"
    assert read.action.integration.id == slack.id
    assert (read.action.title, read.action.message, read.action.severity.value) == (
        "Promoted",
        "${artifact_version_string}",
        "WARN",
    )
    assert _wire(read.action) == _wire(made.action)
    assert _wire(read.event) == _wire(made.event)


def test_registry_and_organization_as_the_sdk_resolves_them(sdk: Sdk) -> None:
    registry = sdk.api.registry("models")
    assert (registry.name, registry.full_name) == ("models", "wandb-registry-models")
    assert (registry.entity, registry.organization) == (ORG_ENTITY, TEAM)
    org = sdk.api.organization()
    assert (org.name, org.org_entity.name) == (TEAM, ORG_ENTITY)
    assert sdk.member_api.registry("models").id == registry.id
    with pytest.raises(ValueError, match="Failed to load registry 'absent'"):
        sdk.api.registry("absent")


def test_create_registry_lands_in_the_org_entity(sdk: Sdk) -> None:
    made = sdk.api.create_registry("datasets", visibility="organization", description="d")
    assert (made.entity, made.full_name, made.description) == (
        ORG_ENTITY,
        "wandb-registry-datasets",
        "d",
    )
    assert sdk.api.registry("datasets").id == made.id
    with pytest.raises(ValueError, match="Failed to create registry 'more'"):
        sdk.member_api.create_registry("more", visibility="organization")


def test_automations_on_a_registry_and_its_collection_use_the_team_webhook(sdk: Sdk) -> None:
    from wandb.automations import ArtifactEvent, OnAddArtifactTag, OnLinkArtifact

    collection = sdk.api.artifact_collection(
        "model", f"{ORG_ENTITY}/wandb-registry-models/prod-detector"
    )
    on_registry = OnLinkArtifact(scope=sdk.api.registry("models"))
    on_collection = OnAddArtifactTag(
        scope=collection, filter=ArtifactEvent.tag.matches_regex("^gold")
    )
    sdk.api.create_automation(on_registry >> _send(sdk), name="seed-registry")
    made = sdk.api.create_automation(on_collection >> _send(sdk), name="seed-collection")
    read = {a.name: a for a in sdk.api.automations(entity=ORG_ENTITY)}
    assert read["seed-registry"].scope.name == "wandb-registry-models"
    assert type(read["seed-registry"].scope).__name__ == "RegistryScope"
    assert read["seed-collection"].scope.id == collection.id
    assert read["seed-collection"].action.integration.id == sdk.webhook.id
    assert _wire(read["seed-collection"].event) == _wire(made.event)
    inner = json.loads(json.loads(_wire(made.event)["filter"])["filter"])
    assert inner == {"$or": [{"$and": [{"tag": {"$regex": "^gold"}}]}]}
    assert "seed-registry" not in {a.name for a in sdk.api.automations(entity=TEAM)}


SEED_INVENTORY = """\
entity: seed
webhooks:
  - name: seed-hook
    url: https://hooks.example/seed
automations:
  - name: seed-inventory-collection
    scope:
      registry: models
      collection: fraud
    when:
      alias_added:
        alias: ^production$
    then:
      webhook:
        to: seed-hook
  - name: seed-inventory-registry
    scope:
      registry: models
    when:
      artifact_linked:
    then:
      webhook:
        to: seed-hook
"""


def test_an_inventory_registry_scope_lands_where_the_sdk_looks(
    server: tuple[LiveServer, str, str], sdk: Sdk, tmp_path: Path
) -> None:
    live, admin_key, _ = server
    db = live.app.state.service.db
    admin.ensure_team(db, "seed", organization=TEAM)  # a second team of acme's organization
    admin.set_role(db, "seed", admin.DEFAULT_ADMIN, "admin")
    admin.ensure_collection(db, "seed", "wandb-registry-models", "fraud")
    (tmp_path / "seed.yaml").write_text(SEED_INVENTORY, encoding="utf-8")
    inventory = load_inventory([str(tmp_path)])
    target = Target(live.url, api_key=admin_key)
    _, report = asyncio.run(session.apply(inventory, target, fingerprint=None))
    assert len(report.applied) == 3
    collection = sdk.api.artifact_collection("model", f"{ORG_ENTITY}/wandb-registry-models/fraud")
    read = {a.name: a for a in sdk.api.automations(entity=ORG_ENTITY)}
    assert read["seed-inventory-collection"].scope.id == collection.id
    assert read["seed-inventory-registry"].scope.id == sdk.api.registry("models").id
    assert "seed-inventory-registry" not in {a.name for a in sdk.api.automations(entity="seed")}
    again = asyncio.run(session.plan(inventory, target))
    assert again.plan.changes == ()


def test_registries_lists_and_filters_the_org_entitys_registries(sdk: Sdk) -> None:
    sdk.api.create_registry("evals", visibility="organization")
    every = {r.name: r.entity for r in sdk.api.registries()}
    assert set(every) - {"datasets"} == {"models", "evals"}  # `datasets`: another test's
    assert set(every.values()) == {ORG_ENTITY}
    assert [r.name for r in sdk.api.registries(filter={"name": "models"})] == ["models"]
    regex = {"name": {"$regex": "^wandb-registry-ev"}}
    assert [r.name for r in sdk.api.registries(filter=regex)] == ["evals"]


def test_every_request_of_the_sdk_costs_a_small_part_of_the_budget(
    sdk: Sdk, caplog: pytest.LogCaptureFixture
) -> None:
    from wandb.automations import OnRunState, RunEvent

    caplog.set_level(logging.INFO, logger="reconcile.server.api.service")
    api = wandb.Api()  # a fresh client: nothing cached from the other tests
    event = OnRunState(scope=sdk.project, filter=RunEvent.state.in_(["FAILED"]))
    made = api.create_automation(event >> _send(sdk), name="costed")
    assert "costed" in {a.name for a in api.automations(entity=TEAM)}
    assert api.automation("costed", entity=TEAM).name == "costed"
    assert [h.name for h in api.webhook_integrations(entity=TEAM)] == ["deploy"]
    assert [s.channel_name for s in api.slack_integrations(entity=TEAM)] == ["alerts"]
    assert api.project("vision", entity=TEAM).name == "vision"
    assert api.artifact_collection("model", f"{TEAM}/vision/detector").name == "detector"
    assert api.delete_automation(made) is True
    requests = [r for r in caplog.records if r.getMessage() == "graphql request"]
    assert [r.status for r in requests] == [200] * len(requests)  # type: ignore[attr-defined]
    costs = [r.cost for r in requests]  # type: ignore[attr-defined]
    # The dearest: the two pages of 50 automations (listing, then lookup by name).
    assert sorted(costs)[-3:] == [3760, 5510, 5510]
    assert max(costs) <= cost.MAX_COST // 50


# --- SDK-made automations: export --adopt, plan, and the SDK reads back what it made ---


def _fidelity_events(sdk: Sdk) -> dict[str, Any]:
    """Every alias and tag test and event kind reconcile expresses, made by the SDK."""
    from wandb.automations import (
        ArtifactEvent,
        MetricThresholdFilter,
        OnAddArtifactAlias,
        OnAddArtifactTag,
        OnAddCollectionTag,
        OnLinkArtifact,
        OnRemoveArtifactTag,
        OnRemoveCollectionTag,
        OnRunMetric,
        OnRunState,
        OnUnlinkArtifact,
        RunEvent,
    )

    window_only = MetricThresholdFilter(name="loss", window=5, cmp="$gt", threshold=1.5)
    return {
        "fid-tag-regex": OnAddArtifactTag(
            scope=sdk.project, filter=ArtifactEvent.tag.matches_regex("^gold")
        ),
        "fid-tag-exact": OnAddArtifactTag(
            scope=sdk.collection, filter=ArtifactEvent.tag.eq("^gold")
        ),
        "fid-alias-eq": OnAddArtifactAlias(
            scope=sdk.collection, filter=ArtifactEvent.alias.eq("prêt")
        ),
        "fid-alias-in": OnLinkArtifact(
            scope=sdk.registry, filter=ArtifactEvent.alias.in_(["prod", "staging"])
        ),
        "fid-tag-removed": OnRemoveArtifactTag(
            scope=sdk.project, filter=ArtifactEvent.tag.contains("old")
        ),
        "fid-unlinked": OnUnlinkArtifact(scope=sdk.collection),
        "fid-collection-tagged": OnAddCollectionTag(
            scope=sdk.project, filter=ArtifactEvent.tag.eq("review")
        ),
        "fid-collection-untagged": OnRemoveCollectionTag(scope=sdk.registry),
        "fid-window-without-aggregate": OnRunMetric(scope=sdk.project, filter=window_only),
        "fid-team-wide": OnRunState(
            scope=_team_scope(), filter=RunEvent.state.in_(["FAILED", "FINISHED"])
        ),
        # Artifact events on the entity scopes: the team's, and its organization's.
        "fid-team-alias": OnAddArtifactAlias(
            scope=_team_scope(), filter=ArtifactEvent.alias.matches_regex("^prod$")
        ),
        "fid-team-tag": OnAddArtifactTag(scope=_team_scope(), filter=ArtifactEvent.tag.eq("gold")),
        "fid-org-link": OnLinkArtifact(
            scope=sdk.api.organization(), filter=ArtifactEvent.alias.in_(["prod"])
        ),
        "fid-org-collection-tag": OnAddCollectionTag(scope=sdk.api.organization()),
        **_filter_forms(sdk),
    }


def _filter_forms(sdk: Sdk) -> dict[str, Any]:
    """One automation of every alias, tag and run-name filter form the SDK writes."""
    from wandb.automations import (
        ArtifactEvent,
        OnAddArtifactAlias,
        OnAddArtifactTag,
        OnLinkArtifact,
        OnRunMetric,
        OnRunState,
        RunEvent,
    )

    alias, tag, name = ArtifactEvent.alias, ArtifactEvent.tag, RunEvent.name
    failed = RunEvent.state.in_(["FAILED"])
    loss = RunEvent.metric("loss") > 1.5
    artifact = {
        "ne": alias.ne("dev"),
        "nin": alias.not_in(["dev", "tmp"]),
        "in-empty": alias.in_([]),
        "exists": alias.exists(),
        "not-exists": alias.exists(False),
        "gt": alias.gt("v1"),
        "lte": alias.lte("v9"),
        "number": alias.eq(5),
        "list": alias.eq(["a", "b"]),
        "and": alias.eq("a") & alias.ne("b"),
        "or": alias.eq("prod") | alias.matches_regex("^staging"),
        "not": ~alias.contains("tmp"),
        "nor": ~(alias.eq("a") | alias.contains("b")),
        "not-and": ~(alias.eq("a") & alias.eq("b")),
        "deep": (alias.eq("a") | (alias.ne("b") & ~alias.contains("c")))
        & ~(alias.exists() | alias.in_(["q"])),
        "raw-eq": {"alias": "prod"},
        "raw-two-operators": {"alias": {"$regex": "^v", "$ne": "v0"}},
    }
    forms: dict[str, Any] = {
        f"fid-alias-{key}": OnAddArtifactAlias(scope=sdk.project, filter=value)
        for key, value in artifact.items()
    }
    forms["fid-link-or"] = OnLinkArtifact(
        scope=sdk.registry, filter=alias.in_(["prod"]) | ~alias.exists()
    )
    forms["fid-tag-nor"] = OnAddArtifactTag(
        scope=sdk.collection, filter=~(tag.eq("gold") | tag.matches_regex("^tmp"))
    )
    forms["fid-tag-ne-and-nin"] = OnAddArtifactTag(
        scope=sdk.project, filter=tag.ne("x") & tag.not_in(["y"])
    )
    forms["fid-run-name-or"] = OnRunState(
        scope=sdk.project, filter=(name.eq("a") | name.matches_regex("^b")) & failed
    )
    forms["fid-run-name-not"] = OnRunMetric(scope=sdk.project, filter=~name.contains("tmp") & loss)
    forms["fid-run-name-nin-team"] = OnRunState(
        scope=_team_scope(), filter=name.not_in(["scratch"]) & name.exists() & failed
    )
    return forms


def _team_scope() -> Any:
    """W&B's entity scope of the team (`api.team()` asks for profile fields we do not serve)."""
    from wandb.automations.scopes import TeamScope

    query = {"query": "query ($e: String!) { entity(name: $e) { id } }", "variables": {"e": TEAM}}
    answer = httpx.post(
        f"{os.environ['WANDB_BASE_URL']}/graphql",
        json=query,
        auth=("api", os.environ["WANDB_API_KEY"]),
    )
    return TeamScope(id=answer.json()["data"]["entity"]["id"], name=TEAM)


def _stored(live: LiveServer) -> dict[str, tuple[Any, ...]]:
    """Each trigger's row as the server stores it: exactly what was sent."""
    with live.app.state.service.db.read() as con:
        rows = con.execute(
            "SELECT name, description, enabled, scope_type, scope_id, event_type, event_filter,"
            " action_type, integration_id, action_config FROM triggers"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.fixture
def fidelity(
    sdk: Sdk, server: tuple[LiveServer, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The SDK's automations, made before reconcile looks, in an empty project folder."""
    from wandb.automations import (
        OnAddArtifactAlias,
        OnRemoveCollectionTag,
        SendNotification,
    )

    (slack,) = sdk.api.slack_integrations(entity=TEAM)
    send = _send_with(sdk, {"text": "modèle ${entity_name}"})
    made = {
        name: sdk.api.create_automation(event >> send, name=name, description="by the SDK")
        for name, event in _fidelity_events(sdk).items()
    }
    (tmp_path / "automations").mkdir()
    monkeypatch.chdir(tmp_path)
    untitled = SendNotification(integration_id=slack.id, text="${artifact_version_string}")
    made["fid-slack-untitled"] = sdk.api.create_automation(
        OnAddArtifactAlias(scope=sdk.project) >> untitled, name="fid-slack-untitled"
    )
    # W&B takes any variable; the inventory refuses one the event does not set.
    versionless = OnRemoveCollectionTag(scope=sdk.project)
    made["fid-no-version"] = sdk.api.create_automation(
        versionless >> _send_with(sdk, {"v": "${artifact_version_string}"}), name="fid-no-version"
    )
    return made


def _owner(made: Any) -> str:
    """The entity that lists an automation: a registry's is its organization's entity."""
    in_registry = type(made.scope).__name__ in (
        "RegistryScope",
        "_ArtifactPortfolioScope",
        "OrgScope",
    )
    return ORG_ENTITY if in_registry else TEAM


def _send_with(sdk: Sdk, payload: dict[str, Any]) -> Any:
    from wandb.automations import SendWebhook

    return SendWebhook.from_integration(sdk.webhook, payload=payload)


def _reconcile(live: LiveServer, *args: str) -> Any:
    from click.testing import CliRunner

    from reconcile.cli import cli

    return CliRunner().invoke(cli, [args[0], "--server", live.url, *args[1:]])


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_sdk_automations_round_trip_through_export_adopt_plan_and_apply(
    sdk: Sdk, server: tuple[LiveServer, str, str], fidelity: dict[str, Any]
) -> None:
    live = server[0]
    before = _stored(live)
    exported = _reconcile(live, "export", "--entity", TEAM, "--out", "automations", "--adopt")
    assert exported.exit_code == 0, exported.output
    assert "not exported: automation fid-alias" not in exported.output
    # A variable of another event is blank, as W&B sends it: adopted like the rest.
    assert "not exported: automation fid-no-version" not in exported.output
    after = _stored(live)
    for name in fidelity:
        assert after[name][1:] == before[name][1:], name  # scope, filter, action: byte for byte
        marked = ownership.read_description(after[name][0])
        assert (marked.text, marked.managed) == (before[name][0] or "", True)
        assert marked.applied is not None  # the object as adopted: no edit outside since
    inventory = load_inventory(["automations"])  # what export wrote validates
    autos = {a.name: a for a in inventory.automations}
    assert autos["fid-no-version"].action.params["payload"] == {"v": "${artifact_version_string}"}
    assert dict(autos["fid-tag-regex"].event.params) == {"tag": {"matches": "^gold"}}
    assert dict(autos["fid-tag-exact"].event.params) == {"tag": "^gold"}
    assert dict(autos["fid-alias-eq"].event.params) == {"alias": {"equals": "prêt"}}
    assert dict(autos["fid-alias-in"].event.params) == {"alias": {"one_of": ["prod", "staging"]}}
    assert dict(autos["fid-tag-removed"].event.params) == {"tag": {"contains": "old"}}
    assert dict(autos["fid-alias-ne"].event.params) == {"alias": {"not_equals": "dev"}}
    assert dict(autos["fid-tag-nor"].event.params) == {
        "tag": {"not_any": ["gold", {"matches": "^tmp"}]}
    }
    assert autos["fid-run-name-or"].event.params["run_name"] == {
        "any": [{"equals": "a"}, {"matches": "^b"}]
    }
    assert autos["fid-run-name-nin-team"].event.params["run_name"] == {
        "all": [{"none_of": ["scratch"]}, {"exists": True}]
    }
    assert autos["fid-unlinked"].event.kind == "artifact_unlinked"
    assert autos["fid-collection-untagged"].event == Event("collection_tag_removed", {"tag": None})
    assert autos["fid-slack-untitled"].action.params["title"] == ""
    assert autos["fid-team-wide"].scope == Scope("", team=TEAM)
    assert autos["fid-team-alias"].scope == Scope("", team=TEAM)
    assert autos["fid-team-tag"].event == Event("tag_added", {"tag": "gold"})
    assert autos["fid-org-link"].scope == Scope("", organization=ORG_ENTITY)
    assert autos["fid-org-link"].event == Event("artifact_linked", {"alias": {"one_of": ["prod"]}})
    assert autos["fid-org-collection-tag"].scope == Scope("", organization=ORG_ENTITY)
    assert type(sdk.api.automation("fid-team-wide", entity=TEAM).scope).__name__ == "TeamScope"
    window = autos["fid-window-without-aggregate"].event.params
    assert (window["aggregate"], window["window"], window["above"]) == (None, 5, 1.5)
    plan = _reconcile(live, "plan", "--format", "json")
    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.stdout)
    assert (document["summary"], document["conflicts"]) == (
        {"create": 0, "update": 0, "delete": 0},
        [],
    )
    for name, made in fidelity.items():
        read = sdk.api.automation(name, entity=_owner(made))
        assert _wire(read.event) == _wire(made.event), name
        assert _wire(read.scope) == _wire(made.scope), name
        assert _wire(read.action) == _wire(made.action), name
    # An edit applied by reconcile is written as the SDK writes: UTF-8, the same filter bytes.
    path = Path("automations") / f"{TEAM}.yaml"
    text = path.read_text("utf-8")
    assert text.count("modèle ${entity_name}") == len(_fidelity_events(sdk))
    path.write_text(text.replace("modèle ${", "modèle révisé ${"), "utf-8")
    applied = _reconcile(live, "apply", "--auto-approve", "--force")
    assert applied.exit_code == 0, applied.output
    stored = _stored(live)
    for name, event in _fidelity_events(sdk).items():
        config = json.loads(stored[name][8])
        assert config["requestPayload"] == '{"text":"modèle révisé ${entity_name}"}'
        read = sdk.api.automation(name, entity=_owner(event))
        assert read.action.request_payload == {"text": "modèle révisé ${entity_name}"}
    # The filters reconcile sent on update are the SDK's own bytes, but that run states go
    # in the inventory's order (running, finished, failed), which means the same.
    changed = {name for name in _fidelity_events(sdk) if stored[name][5] != before[name][5]}
    assert changed == {"fid-team-wide"}
    states = [
        json.loads(row["fid-team-wide"][5])["run_state_filter"]["states"]
        for row in (before, stored)
    ]
    assert states == [["FAILED", "FINISHED"], ["FINISHED", "FAILED"]]
    assert stored["fid-alias-eq"][5] == '{"$or":[{"$and":[{"alias":{"$eq":"prêt"}}]}]}'
