"""Logging an artifact version over GraphQL as wandb-core does (create, manifest, files,
PUTs, commit), for the in-process tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from tests.server.clients.test_stream import _upsert
from tests.server.helpers import TEAM, Api, World

CREATE = """
mutation CreateArtifact($input: CreateArtifactInput!) {
  createArtifact(input: $input) {
    artifact { id state artifactSequence { latestArtifact { id } } }
  }
}
"""
MANIFEST = """
mutation CreateArtifactManifest($artifactID: ID!, $digest: String!, $run: String!) {
  createArtifactManifest(input: {artifactID: $artifactID, name: "wandb_manifest.json",
      digest: $digest, entityName: "acme", projectName: "vision", runName: $run,
      type: FULL}) {
    artifactManifest { id file { id uploadUrl uploadHeaders } }
  }
}
"""
FILES = """
mutation CreateArtifactFiles($artifactFiles: [CreateArtifactFileSpecInput!]!) {
  createArtifactFiles(input: {artifactFiles: $artifactFiles, storageLayout: V2}) {
    files { edges { node { storagePath uploadUrl uploadHeaders artifact { id } } } }
  }
}
"""
COMMIT = """
mutation CommitArtifact($artifactID: ID!) {
  commitArtifact(input: {artifactID: $artifactID}) { artifact { id digest } }
}
"""
MEMBERSHIP = """
query ($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      versionIndex aliases { alias }
      artifact { id versionIndex state size fileCount metadata digest
                 tags { name } aliases { alias artifactCollection { name } }
                 currentManifest { file { directUrl } }
                 files { edges { node { name directUrl } } } }
    }
  }
}
"""


def create_input(files: dict[str, bytes], aliases: tuple[str, ...] = (), **extra: Any) -> Any:
    digest = hashlib.md5(json.dumps(sorted(files)).encode() + b"".join(files.values())).hexdigest()
    return {
        "artifactTypeName": "model",
        "artifactCollectionName": "detector",
        "entityName": TEAM,
        "projectName": "vision",
        "runName": "r1",
        "digest": digest,
        "digestAlgorithm": "MANIFEST_MD5",
        "metadata": '{"acc": 0.9}',
        "aliases": [
            {"alias": a, "artifactCollectionName": "detector"} for a in ("latest", *aliases)
        ],
        "enableDigestDeduplication": True,
        **extra,
    }


def put(world: World, url: str, body: bytes) -> int:
    parts = urlsplit(url)
    return world.client.request("PUT", f"{parts.path}?{parts.query}", content=body).status_code


def get(world: World, url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    answer = world.client.request("GET", f"{parts.path}?{parts.query}")
    return answer.status_code, answer.content


def log(
    world: World, api: Api, files: dict[str, bytes], aliases: tuple[str, ...] = ()
) -> tuple[str, str]:
    """Log a version as wandb-core does: its id and the state CreateArtifact answered."""
    _upsert(api)
    given = create_input(files, aliases)
    made = api.ok(CREATE, {"input": given})["createArtifact"]["artifact"]
    if made["state"] == "COMMITTED":
        return made["id"], "COMMITTED"
    art = made["id"]
    api.ok(MANIFEST, {"artifactID": art, "digest": given["digest"], "run": "r1"})
    specs = [
        {"artifactID": art, "name": n, "md5": hashlib.md5(b).hexdigest()} for n, b in files.items()
    ]
    edges = api.ok(FILES, {"artifactFiles": specs})["createArtifactFiles"]["files"]["edges"]
    for (name, body), edge in zip(files.items(), edges, strict=True):
        if edge["node"]["uploadUrl"] is not None:
            assert put(world, edge["node"]["uploadUrl"], body) == 200, name
    manifest = api.ok(MANIFEST, {"artifactID": art, "digest": given["digest"], "run": "r1"})
    url = manifest["createArtifactManifest"]["artifactManifest"]["file"]["uploadUrl"]
    assert put(world, url, json.dumps({"contents": sorted(files)}).encode()) == 200
    api.ok(COMMIT, {"artifactID": art})
    return art, "PENDING"


def membership(api: Api, name: str, entity: str = TEAM, project: str = "vision") -> Any:
    variables = {"entity": entity, "project": project, "name": name}
    project = api.ok(MEMBERSHIP, variables)["project"]
    return None if project is None else project["artifactCollectionMembership"]
