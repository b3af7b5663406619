"""Links into a registry and edits of a version, as the SDK sends them: each write's
events (one each, `latest` silent), aliases unique per collection, tags, unlink; who may."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconcile.server.admin import tasks as admin
from tests.server.clients.artifact_support import log, membership
from tests.server.helpers import ORG_ENTITY, World

LINK = """
mutation LinkArtifact($input: LinkArtifactInput!) {
  result: linkArtifact(input: $input) {
    versionIndex artifactMembership { versionIndex aliases { alias } artifact { id } }
  }
}
"""
UNLINK = """
mutation UnlinkArtifact($input: UnlinkArtifactInput!) {
  result: unlinkArtifact(input: $input) { success }
}
"""
ADD = """
mutation AddAliases($input: AddAliasesInput!) { result: addAliases(input: $input) { success } }
"""
DELETE = """
mutation DeleteAliases($input: DeleteAliasesInput!) {
  result: deleteAliases(input: $input) { success }
}
"""
UPDATE = """
mutation UpdateArtifact($input: UpdateArtifactInput!) {
  result: updateArtifact(input: $input) { artifact { id metadata tags { name } } }
}
"""
REGISTRY = "wandb-registry-models"
V0 = {"w": b"zero"}
V1 = {"w": b"one"}


def _events(world: World) -> list[tuple[str, str | None, str | None, int]]:
    """(type, alias or tag, registry, version) of each artifact event so far."""
    with world.db.read() as con:
        rows = con.execute("SELECT type, document FROM events ORDER BY id").fetchall()
    out = []
    for kind, text in rows:
        doc = json.loads(text)
        if "artifact" in doc:
            out.append(
                (
                    kind,
                    doc.get("alias") or doc.get("tag"),
                    doc.get("registry"),
                    doc["artifact"]["version"],
                )
            )
    return out


def _link(world: World, art: str, aliases: tuple[str, ...] = (), **change: Any) -> Any:
    given = {
        "artifactID": art,
        "artifactPortfolioName": "fraud-detector",
        "entityName": ORG_ENTITY,
        "projectName": REGISTRY,
        "aliases": [{"alias": a, "artifactCollectionName": "fraud-detector"} for a in aliases],
        **change,
    }
    return world.member.ok(LINK, {"input": given})["result"]


def _alias(alias: str) -> dict[str, str]:
    return {
        "alias": alias,
        "artifactCollectionName": "fraud-detector",
        "entityName": ORG_ENTITY,
        "projectName": REGISTRY,
    }


def _portfolio(world: World) -> str:
    query = """{ project(name: "wandb-registry-models", entityName: "acme-org") {
      artifactCollection(name: "fraud-detector") { id } } }"""
    found: str = world.member.ok(query)["project"]["artifactCollection"]["id"]
    return found


def test_link_promote_tag_unlink_emit_one_event_each(world: World) -> None:
    art, _ = log(world, world.member, V0)
    linked = _link(world, art, aliases=("staging",))
    assert linked["versionIndex"] == 0
    assert sorted(a["alias"] for a in linked["artifactMembership"]["aliases"]) == [
        "latest",
        "staging",
    ]
    world.member.ok(ADD, {"input": {"artifactID": art, "aliases": [_alias("production")]}})
    world.member.ok(ADD, {"input": {"artifactID": art, "aliases": [_alias("production")]}})
    tagged = {"artifactID": art, "tagsToAdd": [{"tagName": "gold"}], "metadata": '{"f": 1}'}
    shown = world.member.ok(UPDATE, {"input": tagged})["result"]["artifact"]
    assert (shown["metadata"], shown["tags"]) == ('{"f": 1}', [{"name": "gold"}])
    untag = {"artifactID": art, "tagsToDelete": [{"tagName": "gold"}]}
    world.member.ok(UPDATE, {"input": untag})
    world.member.ok(
        UNLINK, {"input": {"artifactID": art, "artifactPortfolioID": _portfolio(world)}}
    )
    assert _events(world) == [
        ("artifact_created", None, None, 0),
        ("artifact_linked", None, "models", 0),
        ("alias_added", "staging", "models", 0),
        ("alias_added", "production", "models", 0),
        ("tag_added", "gold", None, 0),
        ("tag_added", "gold", "models", 0),
        ("tag_removed", "gold", None, 0),
        ("tag_removed", "gold", "models", 0),
        ("artifact_unlinked", "production", "models", 0),
    ]
    assert membership(world.member, "fraud-detector:v0", ORG_ENTITY, REGISTRY) is None


def test_aliases_are_unique_per_collection(world: World) -> None:
    first, _ = log(world, world.member, V0)
    second, _ = log(world, world.member, V1)
    _link(world, first, aliases=("production",))
    _link(world, second)
    world.member.ok(ADD, {"input": {"artifactID": second, "aliases": [_alias("production")]}})
    old = membership(world.member, "fraud-detector:v0", ORG_ENTITY, REGISTRY)
    new = membership(world.member, "fraud-detector:production", ORG_ENTITY, REGISTRY)
    assert [a["alias"] for a in old["aliases"]] == []
    assert (new["versionIndex"], sorted(a["alias"] for a in new["aliases"])) == (
        1,
        ["latest", "production"],
    )
    world.member.ok(DELETE, {"input": {"artifactID": second, "aliases": [_alias("production")]}})
    assert membership(world.member, "fraud-detector:production", ORG_ENTITY, REGISTRY) is None
    # The source collection keeps its own aliases: latest is v1 there.
    assert membership(world.member, "detector:latest")["versionIndex"] == 1


def test_link_model_lands_in_the_model_registry(world: World) -> None:
    world.admin.ok(
        """mutation { upsertModel(input: {name: "wandb-registry-model", entityName: "acme-org",
           allowAllArtifactTypesInRegistry: true}) { inserted } }"""
    )
    art, _ = log(world, world.member, V0)
    linked = _link(world, art, entityName="acme", projectName="model-registry")
    assert linked["versionIndex"] == 0
    found = membership(world.member, "fraud-detector:v0", ORG_ENTITY, "wandb-registry-model")
    assert found["artifact"]["id"] == art


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"projectName": "wandb-registry-nope"}, "NOT_FOUND: registry nope not found"),
        ({"entityName": "nobody"}, "NOT_FOUND"),
        ({"artifactPortfolioName": "a/b"}, "BAD_USER_INPUT: invalid artifact collection name"),
        ({"artifactID": None}, "BAD_USER_INPUT: artifactID is required"),
        ({"artifactID": "QXJ0aWZhY3Q6OTk="}, "NOT_FOUND: artifact not found"),
        ({"aliases": [{"alias": "a/b", "artifactCollectionName": "x"}]}, "BAD_USER_INPUT"),
        ({"aliases": [{"alias": "p", "artifactCollectionName": "x"}] * 101}, "BAD_USER_INPUT"),
    ],
)
def test_bad_links_are_refused(world: World, change: dict[str, Any], message: str) -> None:
    art, _ = log(world, world.member, V0)
    given = {
        "artifactID": art,
        "artifactPortfolioName": "fraud-detector",
        "entityName": ORG_ENTITY,
        "projectName": REGISTRY,
        **change,
    }
    answer = world.member.fails(LINK, {"input": given})
    assert answer.startswith(message), answer


@pytest.mark.parametrize(
    ("mutation", "given", "message"),
    [
        (UPDATE, {"tagsToAdd": [{"tagName": "no/slash"}]}, "BAD_USER_INPUT: invalid tag"),
        (UPDATE, {"tagsToAdd": [{"tagName": "x" * 129}]}, "BAD_USER_INPUT: invalid tag"),
        (UPDATE, {"metadata": "[]"}, "BAD_USER_INPUT: metadata"),
        (ADD, {"aliases": [{**_alias("p"), "artifactCollectionName": "zzz"}]}, "NOT_FOUND"),
        (DELETE, {"aliases": [_alias("latest")]}, "BAD_USER_INPUT: the alias latest"),
        (UNLINK, {"artifactPortfolioID": "QXJ0aWZhY3RDb2xsZWN0aW9uOjE="}, "BAD_USER_INPUT"),
    ],
)
def test_bad_edits_are_refused(world: World, mutation: str, given: Any, message: str) -> None:
    art, _ = log(world, world.member, V0)
    _link(world, art)
    given = {"artifactID": art, "aliases": [], **given} if mutation in (ADD, DELETE) else given
    answer = world.member.fails(mutation, {"input": {"artifactID": art, **given}})
    assert answer.startswith(message), answer


def test_outsiders_neither_link_nor_edit(world: World) -> None:
    art, _ = log(world, world.member, V0)
    _link(world, art)
    given = {
        "artifactID": art,
        "artifactPortfolioName": "x",
        "entityName": ORG_ENTITY,
        "projectName": REGISTRY,
    }
    assert world.outsider.fails(LINK, {"input": given}) == "NOT_FOUND: artifact not found"
    add = {"artifactID": art, "aliases": [_alias("production")]}
    assert world.outsider.fails(ADD, {"input": add}) == "NOT_FOUND: artifact not found"
    unlink = {"artifactID": art, "artifactPortfolioID": _portfolio(world)}
    assert world.outsider.fails(UNLINK, {"input": unlink}) == "NOT_FOUND: artifact not found"
    assert [e[0] for e in _events(world)] == ["artifact_created", "artifact_linked"]


def test_no_links_into_another_organization(world: World) -> None:
    """A member of two teams cannot carry a version into the other's registry; to a
    non-member that registry does not exist."""
    admin.set_role(world.db, "other", "mia", "member")
    admin.ensure_registry(world.db, "other", "models")
    art, _ = log(world, world.member, V0)
    given = {"artifactID": art, "artifactPortfolioName": "stolen", "projectName": REGISTRY}
    answer = world.member.fails(LINK, {"input": {**given, "entityName": "other-org"}})
    assert answer == (
        "FORBIDDEN: permission denied: a version of acme links into its own projects "
        "or its organization's registries"
    )
    admin.remove_member(world.db, "other", "mia")
    answer = world.member.fails(LINK, {"input": {**given, "entityName": "other-org"}})
    assert answer == "NOT_FOUND: entity 'other-org' not found"
    assert [e[0] for e in _events(world)] == ["artifact_created"]


def test_download_urls_are_checked(world: World) -> None:
    log(world, world.member, V0)
    version = membership(world.member, "detector:v0")
    url = version["artifact"]["files"]["edges"][0]["node"]["directUrl"]
    path, _, query = url.removeprefix("http://server").partition("?")
    expires = query.split("&")[0].split("=")[1]
    for bad, status in (
        (f"{path}?{query.replace(expires, str(int(expires) + 1))}", 403),  # a changed expiry
        (f"{path}", 403),  # no signature
        (f"/files/downloads/{'9' * 30}?{query}", 403),
        (f"/files/downloads/..%2Fserver.db?{query}", 404),  # no such route
    ):
        assert world.client.request("GET", bad).status_code == status, bad
    assert world.client.request("GET", f"{path}?{query}").status_code == 200
