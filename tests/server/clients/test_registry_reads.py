"""`registry.collections()`, `registry.versions()`, `collection.artifacts()` and
`collection.aliases`, with the SDK's own documents: what each lists, pages, and that
other teams see nothing."""

from __future__ import annotations

import json
from typing import Any

from wandb.sdk.artifacts._generated.operations import (
    ARTIFACT_COLLECTION_ALIASES_GQL,
    PROJECT_ARTIFACTS_GQL,
    REGISTRY_COLLECTIONS_GQL,
    REGISTRY_VERSIONS_GQL,
)

from tests.server.clients.artifact_support import log
from tests.server.clients.test_artifact_links import _link
from tests.server.helpers import TEAM, Api, World

REGISTRY = {"name": "wandb-registry-models"}


def _registry(api: Api, query: str, **variables: Any) -> Any:
    data = api.ok(query, {"organization": TEAM, "registryFilter": _json(REGISTRY), **variables})
    return data["organization"]["orgEntity"]


def _json(value: Any) -> str:
    return json.dumps(value)


def _versions(api: Api, **variables: Any) -> list[tuple[str, int]]:
    found = _registry(api, REGISTRY_VERSIONS_GQL, **variables)["artifactMemberships"]
    return [(e["node"]["artifactCollection"]["name"], e["node"]["versionIndex"])
            for e in found["edges"]]  # fmt: skip


def test_registry_collections_and_versions(world: World) -> None:
    first, _ = log(world, world.member, {"w": b"0"})
    second, _ = log(world, world.member, {"w": b"1"})
    _link(world, first)
    _link(world, second)
    found = _registry(world.member, REGISTRY_COLLECTIONS_GQL)["artifactCollections"]
    assert found["totalCount"] == 2
    assert sorted(e["node"]["name"] for e in found["edges"]) == ["fraud-detector", "prod-detector"]
    assert _versions(world.member) == [("fraud-detector", 0), ("fraud-detector", 1)]
    page = _registry(world.member, REGISTRY_VERSIONS_GQL, perPage=1)["artifactMemberships"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = _versions(world.member, perPage=1, cursor=page["pageInfo"]["endCursor"])
    assert rest == [("fraud-detector", 1)]
    named = _versions(world.member, collectionFilter=_json({"name": "prod-detector"}))
    assert named == []
    outsider = {"organization": TEAM, "registryFilter": _json(REGISTRY)}
    assert world.outsider.ok(REGISTRY_VERSIONS_GQL, outsider) == {"organization": None}


def test_collection_artifacts_and_aliases(world: World) -> None:
    log(world, world.member, {"w": b"0"}, aliases=("best",))
    log(world, world.member, {"w": b"1"})
    variables = {"entity": TEAM, "project": "vision", "type": "model", "collection": "detector"}
    found = world.member.ok(PROJECT_ARTIFACTS_GQL, {**variables, "perPage": 1})
    listing = found["project"]["artifactType"]["artifactCollection"]["artifacts"]
    assert listing["totalCount"] == 2
    assert [e["version"] for e in listing["edges"]] == ["v1"]
    more = {**variables, "perPage": 1, "cursor": listing["pageInfo"]["endCursor"]}
    rest = world.member.ok(PROJECT_ARTIFACTS_GQL, more)["project"]["artifactType"]
    assert [e["version"] for e in rest["artifactCollection"]["artifacts"]["edges"]] == ["v0"]
    collection = world.collection_id
    aliases = world.member.ok(ARTIFACT_COLLECTION_ALIASES_GQL, {"id": collection})
    names = [e["node"]["alias"] for e in aliases["artifactCollection"]["aliases"]["edges"]]
    assert sorted(names) == ["best", "latest"]
    hidden = world.outsider.ok(ARTIFACT_COLLECTION_ALIASES_GQL, {"id": collection})
    assert hidden == {"artifactCollection": None}


def test_unsupported_filters_are_refused(world: World) -> None:
    answer = world.member.fails(
        REGISTRY_VERSIONS_GQL,
        {"organization": TEAM, "registryFilter": _json({"description": {"$regex": "x"}})},
    )
    assert (
        answer == "BAD_USER_INPUT: projectFilters: 'description' is not supported here (id, name)"
    )
    answer = world.member.fails(
        REGISTRY_COLLECTIONS_GQL, {"organization": TEAM, "collectionFilter": "{"}
    )
    assert answer == "BAD_USER_INPUT: filters: not JSON"
