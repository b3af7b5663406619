"""A collection's edits over GraphQL: name, description, type and tags, who may make
them, the words for bad input, and the tag events each change fires."""

from __future__ import annotations

import json
from typing import Any

from reconcile.server.admin import tasks as admin
from reconcile.server.clients.collections import MAX_COLLECTION_TAGS
from tests.server.helpers import ORG_ENTITY, World

SEQUENCE = """
mutation ($id: ID!, $name: String, $d: String) { updateArtifactSequence(input: {
  artifactSequenceID: $id, name: $name, description: $d}) {
  artifactCollection { __typename name description tags { edges { node { name } } } } } }
"""
PORTFOLIO = SEQUENCE.replace("updateArtifactSequence", "updateArtifactPortfolio").replace(
    "artifactSequenceID", "artifactPortfolioID"
)
MOVE = """
mutation ($id: ID!, $t: String!) { moveArtifactSequence(input: {artifactSequenceID: $id,
  destinationArtifactTypeName: $t}) { artifactCollection { defaultArtifactType { name } } } }
"""
ADD_TAGS = """
mutation ($e: String!, $p: String!, $c: String!, $t: [TagInput!]!) {
  createArtifactCollectionTagAssignments(input: {entityName: $e, projectName: $p,
    artifactCollectionName: $c, tags: $t}) { tags { name } } }
"""
DELETE_TAGS = """
mutation ($e: String!, $p: String!, $c: String!, $t: [TagInput!]!) {
  deleteArtifactCollectionTagAssignments(input: {entityName: $e, projectName: $p,
    artifactCollectionName: $c, tags: $t}) { success } }
"""
IN_REGISTRY = {"e": ORG_ENTITY, "p": "wandb-registry-models", "c": "prod-detector"}


def _tags(*names: str) -> list[dict[str, Any]]:
    return [{"tagName": name} for name in names]


def _tag_events(world: World) -> list[tuple[str, str, str, str]]:
    with world.db.read() as con:
        rows = con.execute("SELECT type, document FROM events ORDER BY id").fetchall()
    documents = [(r["type"], json.loads(r["document"])) for r in rows]
    return [(t, d["entity"], d["registry"], d["tag"]) for t, d in documents]


def test_a_sequence_is_renamed_and_described_by_team_members(world: World) -> None:
    done = world.member.ok(SEQUENCE, {"id": world.collection_id, "name": "det2", "d": "about"})
    assert done["updateArtifactSequence"]["artifactCollection"] == {
        "__typename": "ArtifactSequence",
        "name": "det2",
        "description": "about",
        "tags": {"edges": []},
    }
    admin.ensure_collection(world.db, "acme", "vision", "other-one")
    assert world.member.fails(SEQUENCE, {"id": world.collection_id, "name": "other-one"}) == (
        "CONFLICT: a collection named 'other-one' already exists in vision"
    )
    assert world.member.fails(SEQUENCE, {"id": world.collection_id, "name": "a b"}) == (
        "BAD_USER_INPUT: invalid collection name 'a b': letters, digits, '-_.'"
    )
    assert world.outsider.fails(SEQUENCE, {"id": world.collection_id}) == (
        "NOT_FOUND: artifact collection not found"
    )
    assert world.member.fails(SEQUENCE, {"id": world.registry_collection_id}) == (
        "FORBIDDEN: permission denied: only admins and members of registry "
        "wandb-registry-models edit its collections (your registry role is viewer)"
    )
    assert world.registry_admin.fails(SEQUENCE, {"id": world.registry_collection_id}) == (
        "BAD_USER_INPUT: collection 'prod-detector' is an ArtifactPortfolio, not an "
        "ArtifactSequence"
    )
    moved = world.member.ok(MOVE, {"id": world.collection_id, "t": "dataset"})
    assert moved["moveArtifactSequence"]["artifactCollection"] == {
        "defaultArtifactType": {"name": "dataset"}
    }
    assert world.member.fails(MOVE, {"id": world.collection_id, "t": "wandb-x"}) == (
        "BAD_USER_INPUT: artifact type 'wandb-x' is reserved for internal use"
    )


def test_registry_collection_tags_fire_their_events_once(world: World) -> None:
    added = world.registry_admin.ok(ADD_TAGS, {**IN_REGISTRY, "t": _tags("gold", "gold", "x y")})
    assert added["createArtifactCollectionTagAssignments"]["tags"] == [
        {"name": "gold"},
        {"name": "x y"},
    ]
    again = world.registry_admin.ok(ADD_TAGS, {**IN_REGISTRY, "t": _tags("gold")})
    assert again["createArtifactCollectionTagAssignments"]["tags"] == []
    world.registry_admin.ok(DELETE_TAGS, {**IN_REGISTRY, "t": _tags("gold", "absent")})
    assert _tag_events(world) == [
        ("collection_tag_added", "acme", "models", "gold"),
        ("collection_tag_added", "acme", "models", "x y"),
        ("collection_tag_removed", "acme", "models", "gold"),
    ]


def test_tags_refuse_bad_names_too_many_and_non_editors(world: World) -> None:
    assert world.registry_admin.fails(ADD_TAGS, {**IN_REGISTRY, "t": _tags("a/b")}) == (
        "BAD_USER_INPUT: invalid tag 'a/b': 1-128 letters, digits, '-' or '_', words "
        "separated by spaces"
    )
    assert world.registry_admin.fails(ADD_TAGS, {**IN_REGISTRY, "t": _tags("x" * 129)}).startswith(
        "BAD_USER_INPUT: invalid tag 'xxxx"
    )
    many = _tags(*(f"t{n}" for n in range(MAX_COLLECTION_TAGS + 1)))
    assert world.registry_admin.fails(ADD_TAGS, {**IN_REGISTRY, "t": many}) == (
        f"BAD_USER_INPUT: a collection holds at most {MAX_COLLECTION_TAGS} tags"
    )
    assert world.member.fails(ADD_TAGS, {**IN_REGISTRY, "t": _tags("m")}) == (
        "FORBIDDEN: permission denied: only admins and members of registry "
        "wandb-registry-models edit its collections (your registry role is viewer)"
    )
    assert world.outsider.fails(ADD_TAGS, {**IN_REGISTRY, "t": _tags("o")}) == (
        "NOT_FOUND: entity 'acme-org' not found"
    )
    absent = {**IN_REGISTRY, "c": "absent"}
    assert world.registry_admin.fails(ADD_TAGS, {**absent, "t": _tags("o")}) == (
        "NOT_FOUND: artifact collection not found"
    )
    assert _tag_events(world) == []


def test_a_restricted_registrys_collections_are_absent_to_non_members(world: World) -> None:
    restrict = """mutation { upsertModel(input: {entityName: "acme-org",
      name: "wandb-registry-models", access: "RESTRICTED"}) { project { access } } }"""
    assert world.admin.ok(restrict)["upsertModel"]["project"] == {"access": "RESTRICTED"}
    # reg is an admin member of `models`: still sees and edits it; mia does not see it.
    world.registry_admin.ok(ADD_TAGS, {**IN_REGISTRY, "t": _tags("kept")})
    absent = {**IN_REGISTRY, "c": "absent"}
    assert world.member.fails(ADD_TAGS, {**IN_REGISTRY, "t": _tags("m")}) == (
        world.member.fails(ADD_TAGS, {**absent, "t": _tags("m")})
    )
    assert world.member.fails(PORTFOLIO, {"id": world.registry_collection_id}) == (
        "NOT_FOUND: artifact collection not found"
    )
