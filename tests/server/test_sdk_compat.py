"""The official `wandb` SDK drives the embedded server over HTTP on 127.0.0.1.

One server for the module; each test uses its own automation names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconcile import session
from reconcile.inventory import load_inventory
from reconcile.server import admin
from reconcile.target import Target
from tests.server.helpers import ORG_ENTITY, TEAM, InProcess, build_world
from tests.server.live import LiveServer, running

wandb = pytest.importorskip("wandb")
automations = pytest.importorskip("wandb.automations")


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
        for name, value in {
            "WANDB_BASE_URL": live.url,
            "WANDB_API_KEY": admin_key,
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_SILENT": "true",
            "WANDB_DIR": str(home),
            "WANDB_CONFIG_DIR": str(home / "config"),
            "WANDB_CACHE_DIR": str(home / "cache"),
            "WANDB_DATA_DIR": str(home / "data"),
            "HOME": str(home),
        }.items():
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
    assert [(h.name, h.url_endpoint) for h in hooks] == [("deploy", "https://hooks.example/d")]
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
