"""The SDK's own automation system tests for scopes, ported: entity scopes (a team, an
organization) and moves between any two scopes, driven by the official `wandb` SDK over
HTTP against the embedded server on 127.0.0.1; entity-scoped automations then fire.

Scenarios follow `tests/system_tests/test_automations/` of the wandb repository
(`test_create_automation` on `scope=ENTITY`, `TestUpdateAutomation`'s scope updates).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx
import pytest

# A dev dependency, imported outright: without it the suite fails here, it never skips.
import wandb
from wandb.automations import (
    ArtifactEvent,
    DoNothing,
    MetricZScoreFilter,
    OnAddArtifactAlias,
    OnAddArtifactTag,
    OnAddCollectionTag,
    OnCreateArtifact,
    OnLinkArtifact,
    OnRemoveArtifactTag,
    OnRemoveCollectionTag,
    OnRunMetric,
    OnRunState,
    OnUnlinkArtifact,
    ProjectScope,
    RegistryScope,
    RunEvent,
    ScopeType,
    SendWebhook,
)
from wandb.automations._run_metric_filters import ChangeDir
from wandb.errors.errors import CommError

from reconcile.server.admin import tasks as admin
from reconcile.server.runtime.worker import Worker
from tests.server.helpers import ORG_ENTITY, TEAM, InProcess, basic, build_world, sdk_environment
from tests.server.live import LiveServer, running
from tests.server.runtime.receiver import Receiver


@dataclass
class Sdk:
    live: LiveServer
    receiver: Receiver
    admin_key: str
    api: Any
    project_admin_api: Any
    member_api: Any
    webhook: Any
    team: Any
    org: Any
    project: Any
    registry: Any
    collection: Any
    registry_collection: Any


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sdk]:
    root = tmp_path_factory.mktemp("sdk-scopes")
    with running(root / "server.db") as live, Receiver() as receiver:
        world = build_world(InProcess(live.app))
        hook = {"entityName": TEAM, "name": "deploy", "urlEndpoint": receiver.url("/ok")}
        world.admin.ok(
            "mutation ($i: CreateGenericWebhookIntegrationInput!) {"
            " createGenericWebhookIntegration(input: $i) { integration { __typename } } }",
            {"i": hook},
        )
        with pytest.MonkeyPatch.context() as env:
            home = root / "wandb-home"
            for name, value in sdk_environment(live.url, world.admin.key, home).items():
                env.setenv(name, value)
            api = wandb.Api()
            yield Sdk(
                live=live,
                receiver=receiver,
                admin_key=world.admin.key,
                api=api,
                project_admin_api=wandb.Api(api_key=world.project_admin.key),
                member_api=wandb.Api(api_key=world.member.key),
                webhook=next(iter(api.webhook_integrations(entity=TEAM))),
                team=api.team(TEAM),
                org=api.organization(),
                project=api.project("vision", entity=TEAM),
                registry=api.registry("models"),
                collection=api.artifact_collection("model", f"{TEAM}/vision/detector"),
                registry_collection=api.artifact_collection(
                    "model", f"{ORG_ENTITY}/wandb-registry-models/prod-detector"
                ),
            )
            wandb.teardown()


_NAMES = count()


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_NAMES)}"


def test_entity_scopes_are_enabled_for_the_organization(sdk: Sdk) -> None:
    """The SDK conftest's `entity_scope_enabled`: the server feature and the org's flag."""
    from wandb.automations._compat import scope_enabled

    assert scope_enabled(sdk.api._service_api, ScopeType.ENTITY)
    flags = sdk.api._service_api.org_feature_flags(TEAM, "automation_entity_scope")
    assert flags == {"automation_entity_scope": True}


# The SDK conftest's event fixtures, by event type.
def _alias(scope: Any) -> Any:
    return ArtifactEvent.alias.matches_regex("^my-artifact.*")


def _tag(scope: Any) -> Any:
    return ArtifactEvent.tag.matches_regex("^my-tag.*")


EVENTS: dict[str, Callable[[Any], Any]] = {
    "ADD_ARTIFACT_ALIAS": lambda s: OnAddArtifactAlias(scope=s, filter=_alias(s)),
    "ADD_ARTIFACT_TAG": lambda s: OnAddArtifactTag(scope=s, filter=_tag(s)),
    "ADD_COLLECTION_TAG": lambda s: OnAddCollectionTag(scope=s, filter=_tag(s)),
    "LINK_ARTIFACT": lambda s: OnLinkArtifact(scope=s, filter=_alias(s)),
    "REMOVE_ARTIFACT_TAG": lambda s: OnRemoveArtifactTag(scope=s, filter=_tag(s)),
    "REMOVE_COLLECTION_TAG": lambda s: OnRemoveCollectionTag(scope=s, filter=_tag(s)),
    "UNLINK_ARTIFACT": lambda s: OnUnlinkArtifact(scope=s, filter=_alias(s)),
    "RUN_METRIC_THRESHOLD": lambda s: OnRunMetric(
        scope=s,
        filter=RunEvent.name.contains("my-run") & RunEvent.metric("my-metric").mean(5).gt(0),
    ),
    "RUN_METRIC_CHANGE": lambda s: OnRunMetric(
        scope=s,
        filter=RunEvent.name.contains("my-run")
        & RunEvent.metric("my-metric").mean(5).changes_by(diff=123.45),
    ),
    "RUN_METRIC_ZSCORE": lambda s: OnRunMetric(
        scope=s,
        filter=RunEvent.name.contains("my-run")
        & MetricZScoreFilter(name="my-metric", window=5, threshold=2.0, change_dir=ChangeDir.ANY),
    ),
    "RUN_STATE": lambda s: OnRunState(
        scope=s, filter=RunEvent.name.contains("my-run") & (RunEvent.state == "failed")
    ),
}
ARTIFACT_EVENTS = [name for name in EVENTS if not name.startswith("RUN_")]


def _action(sdk: Sdk, kind: str) -> Any:
    if kind == "webhook":
        return SendWebhook(integration_id=sdk.webhook.id, request_payload={"my-key": "my-value"})
    return DoNothing()


# wandb 0.31 reads its own deprecated `legacy_metric_filter` attribute while building
# run-metric events; that DeprecationWarning is the SDK's, not ours.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
@pytest.mark.parametrize("action", ["webhook", "no-op"])
@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_create_automation_on_the_team_scope(sdk: Sdk, event_type: str, action: str) -> None:
    """`test_create_automation[scope=ENTITY]`: every event the SDK allows there."""
    name = _name(f"team-{event_type.lower()}")
    created = sdk.api.create_automation(
        EVENTS[event_type](sdk.team) >> _action(sdk, action), name=name, description="d"
    )
    assert created.name == name
    assert created.scope.scope_type is ScopeType.ENTITY
    assert (created.scope.id, created.scope.name) == (sdk.team.id, TEAM)
    assert sdk.api.automation(entity=TEAM, name=name) == created


@pytest.mark.parametrize("event_type", ARTIFACT_EVENTS)
def test_create_automation_on_the_organization_scope(sdk: Sdk, event_type: str) -> None:
    """An organization scope (the SDK's `OrgScope`) takes artifact events; the automation
    belongs to the organization's entity, beside the registries it watches."""
    name = _name(f"org-{event_type.lower()}")
    created = sdk.api.create_automation(
        EVENTS[event_type](sdk.org) >> _action(sdk, "webhook"), name=name
    )
    assert type(created.scope).__name__ == "OrgScope"
    assert (created.scope.id, created.scope.name) == (sdk.org.org_entity.id, ORG_ENTITY)
    assert sdk.api.automation(entity=ORG_ENTITY, name=name) == created
    assert name not in {a.name for a in sdk.api.automations(entity=TEAM)}


def _old_automation(sdk: Sdk) -> Any:
    """`TestUpdateAutomation.old_automation`: a link event on the team's collection."""
    event = OnLinkArtifact(scope=sdk.collection, filter=_alias(sdk.collection))
    return sdk.api.create_automation(
        event >> _action(sdk, "webhook"), name=_name("old"), description="orig description"
    )


def test_update_scope_to_registry(sdk: Sdk) -> None:
    old = _old_automation(sdk)
    old.scope = sdk.registry
    new = sdk.api.update_automation(old)
    assert isinstance(new.scope, RegistryScope)
    assert new.scope.is_registry is True
    assert (new.scope.id, new.scope.name) == (sdk.registry.id, sdk.registry.full_name)
    assert new.scope.name.startswith("wandb-registry-")
    # It now belongs to the organization's entity, where the SDK lists registry automations.
    assert sdk.api.automation(entity=ORG_ENTITY, name=old.name) == new
    assert old.name not in {a.name for a in sdk.api.automations(entity=TEAM)}


def test_update_scope_to_a_registry_collection_and_back_to_the_team(sdk: Sdk) -> None:
    old = _old_automation(sdk)
    old.scope = sdk.registry_collection
    moved = sdk.api.update_automation(old)
    assert moved.scope.scope_type is ScopeType.ARTIFACT_COLLECTION
    assert (moved.scope.id, moved.scope.name) == (sdk.registry_collection.id, "prod-detector")
    assert sdk.api.automation(entity=ORG_ENTITY, name=old.name) == moved
    moved.scope = sdk.project
    back = sdk.api.update_automation(moved)
    assert isinstance(back.scope, ProjectScope)
    assert back.scope.is_registry is False
    assert (back.scope.id, back.scope.name) == (sdk.project.id, "vision")
    assert sdk.api.automation(entity=TEAM, name=old.name) == back
    assert old.name not in {a.name for a in sdk.api.automations(entity=ORG_ENTITY)}


def test_update_scope_to_the_team_and_to_the_organization(sdk: Sdk) -> None:
    old = _old_automation(sdk)
    old.scope = sdk.team
    on_team = sdk.api.update_automation(old)
    assert type(on_team.scope).__name__ == "TeamScope"
    assert on_team.scope.id == sdk.team.id
    on_team.scope = sdk.org
    on_org = sdk.api.update_automation(on_team)
    assert type(on_org.scope).__name__ == "OrgScope"
    assert sdk.api.automation(entity=ORG_ENTITY, name=old.name) == on_org


@pytest.mark.parametrize(
    ("event_type", "start"),
    [*((name, "project") for name in ARTIFACT_EVENTS), ("CREATE_ARTIFACT", "collection")],
)
def test_update_scope_to_artifact_collection(sdk: Sdk, event_type: str, start: str) -> None:
    events = {**EVENTS, "CREATE_ARTIFACT": lambda s: OnCreateArtifact(scope=s, filter=_alias(s))}
    scope = sdk.project if start == "project" else sdk.collection
    old = sdk.api.create_automation(
        events[event_type](scope) >> _action(sdk, "webhook"), name=_name("to-collection")
    )
    old.scope = sdk.collection
    new = sdk.api.update_automation(old)
    assert new.scope.scope_type is ScopeType.ARTIFACT_COLLECTION
    assert (new.scope.id, new.scope.name) == (sdk.collection.id, "detector")


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
@pytest.mark.parametrize("event_type", [name for name in EVENTS if name.startswith("RUN_")])
def test_update_scope_to_artifact_collection_fails_for_incompatible_event(
    sdk: Sdk, event_type: str
) -> None:
    old = sdk.api.create_automation(
        EVENTS[event_type](sdk.project) >> _action(sdk, "webhook"), name=_name("run")
    )
    old.scope = sdk.collection
    with pytest.raises(CommError):
        sdk.api.update_automation(old)


def test_a_move_needs_the_rights_of_a_create_in_the_new_place(sdk: Sdk) -> None:
    """pat administers the project `vision`, not the registry: he may not move an
    automation of his project there; a plain member may not move anything."""
    event = OnLinkArtifact(scope=sdk.project, filter=_alias(sdk.project))
    made = sdk.project_admin_api.create_automation(event >> DoNothing(), name=_name("pat"))
    made.scope = sdk.registry
    with pytest.raises(CommError, match="permission denied"):
        sdk.project_admin_api.update_automation(made)
    made.scope = sdk.team
    with pytest.raises(CommError, match="only admins of team acme"):
        sdk.project_admin_api.update_automation(made)
    made.scope = sdk.collection
    with pytest.raises(CommError):
        sdk.member_api.update_automation(made)
    read = sdk.api.automation(entity=TEAM, name=made.name)
    assert (read.scope.id, read.scope.name) == (sdk.project.id, "vision")


def test_entity_scoped_automations_made_by_the_sdk_fire(sdk: Sdk) -> None:
    """A team-scoped alias automation fires for a project made after it; an
    organization-scoped link automation for a registry; each delivery seen at the
    loopback receiver."""
    for entity in (TEAM, ORG_ENTITY):  # the SDK's `reset_automations`
        for automation in sdk.api.automations(entity=entity):
            sdk.api.delete_automation(automation)
    on_team = OnAddArtifactAlias(scope=sdk.team, filter=_alias(sdk.team))
    payload = {"alias": "${artifact_collection_name}:${alias}", "p": "${project_name}"}
    send = SendWebhook(integration_id=sdk.webhook.id, request_payload=payload)
    sdk.api.create_automation(on_team >> send, name="fires-team")
    linked = {"v": "${artifact_version_string}", "p": "${project_name}"}
    send = SendWebhook(integration_id=sdk.webhook.id, request_payload=linked)
    sdk.api.create_automation(OnLinkArtifact(scope=sdk.org) >> send, name="fires-org")
    db = sdk.live.app.state.service.db
    admin.ensure_project(db, TEAM, "later")
    artifact = {"type": "model", "version": 1}
    events = [
        {"id": "t1", "type": "alias_added", "entity": TEAM, "project": "later",
         "collection": "c", "artifact": artifact, "alias": "my-artifact-x"},
        {"id": "t2", "type": "alias_added", "entity": TEAM, "project": "vision",
         "collection": "c", "artifact": artifact, "alias": "other"},
        {"id": "o1", "type": "artifact_linked", "entity": TEAM, "registry": "models",
         "collection": "r", "artifact": artifact, "alias": "v1"},
    ]  # fmt: skip
    answer = httpx.post(
        f"{sdk.live.url}/api/v1/events", json={"events": events}, headers=basic(sdk.admin_key)
    )
    assert answer.status_code == 202, answer.text
    fired = {e["id"]: e["automations"] for e in answer.json()["events"]}
    assert fired == {"t1": ["fires-team"], "t2": [], "o1": ["fires-org"]}
    service = sdk.live.app.state.service
    assert asyncio.run(Worker(service.db, service.box, ("127.0.0.1",)).drain(30.0)) == 0
    got = sorted(json.dumps(json.loads(r.body)) for r in sdk.receiver.requests)
    assert got == [
        json.dumps({"alias": "c:my-artifact-x", "p": "later"}),
        json.dumps({"v": f"{ORG_ENTITY}/wandb-registry-models/r:v1", "p": "wandb-registry-models"}),
    ]
