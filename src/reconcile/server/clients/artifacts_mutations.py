"""GraphQL mutations of artifact versions as the SDK's wandb-core sends them:
`createArtifact`, `createArtifactManifest`, `updateArtifactManifest`,
`createArtifactFiles`, `commitArtifact`, `useArtifact`."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api.ids import decode_id, encode_id
from reconcile.server.api.present import Obj
from reconcile.server.clients import artifact_links, artifact_writes, artifacts, runs
from reconcile.server.clients.artifact_writes import Writer
from reconcile.server.clients.artifacts_graphql import (
    artifact,
    ctx,
    manifest_file,
    membership,
    signer,
)
from reconcile.server.errors import NotFound


def writer(info: GraphQLResolveInfo) -> Writer:
    context = ctx(info)
    return Writer(context.con, context.box, context.user)


def _answer(key: str, value: Any, given: dict[str, Any]) -> Obj:
    return {key: value, "clientMutationId": given.get("clientMutationId")}


def resolve_create(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    w = writer(info)
    art, queued = artifact_writes.create(w, input)
    ctx(info).queued.extend(queued)
    shown = artifact(w.con, art)
    latest = artifacts.alias_target(w.con, art.sequence.id, artifacts.LATEST)
    shown["artifactSequence"]["latestArtifact"] = (
        None if latest is None else {"id": encode_id("Artifact", latest)}
    )
    return _answer("artifact", shown, input)


def _manifest(info: GraphQLResolveInfo, artifact_id: int) -> Obj:
    w = writer(info)
    url = artifact_writes.manifest_upload(w, artifact_id, signer(info), ctx(info).base_url)
    art = artifacts.get(w.con, artifact_id)
    return {"id": encode_id("ArtifactManifest", art.id), "file": manifest_file(art, None, url)}


def resolve_create_manifest(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    artifact_id = decode_id(input["artifactID"], "Artifact")[1]
    return _answer("artifactManifest", _manifest(info, artifact_id), input)


def resolve_update_manifest(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    artifact_id = decode_id(input["artifactManifestID"], "ArtifactManifest")[1]
    return _answer("artifactManifest", _manifest(info, artifact_id), input)


def resolve_create_files(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    w = writer(info)
    specs = artifact_writes.file_specs(input["artifactFiles"])
    made = artifact_writes.add_files(w, specs, signer(info), ctx(info).base_url)
    edges: list[Obj] = [
        {
            "node": {
                "__typename": "File",
                "id": encode_id("File", n + 1),
                "name": spec.name,
                "storagePath": None,
                "uploadUrl": url,
                "uploadHeaders": [],
                "uploadMultipartUrls": None,
                "artifact": {"id": encode_id("Artifact", spec.artifact_id)},
            }
        }
        for n, (spec, url) in enumerate(made)
    ]
    page = {"pageInfo": {"hasNextPage": False, "hasPreviousPage": False}, "edges": edges}
    return _answer("files", page, input)


def resolve_commit(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    w = writer(info)
    art, queued = artifact_writes.commit(w, decode_id(input["artifactID"], "Artifact")[1])
    ctx(info).queued.extend(queued)
    return _answer("artifact", artifact(w.con, art), input)


def resolve_use(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """A run's use of a version: checked (the run's and the version's team), not kept."""
    w = writer(info)
    art = artifact_writes.readable(w.con, w.user, decode_id(input["artifactID"], "Artifact")[1])
    _, project = runs.writable_project(
        w.con, w.user, input["entityName"], input["projectName"], create=False
    )
    if runs.find_run(w.con, project, input["runName"]) is None:
        raise NotFound(f"run {input['runName']} not found in {project.entity_name}/{project.name}")
    return _answer("artifact", artifact(w.con, art), input)


def resolve_link(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    w = writer(info)
    linked, queued = artifact_links.link(w, input)
    ctx(info).queued.extend(queued)
    shown = membership(w.con, linked.artifact, linked.collection.id)
    return {**_answer("artifactMembership", shown, input), "versionIndex": linked.index}


def resolve_unlink(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx(info).queued.extend(artifact_links.unlink(writer(info), input))
    return {**_answer("success", True, input), "artifactID": input["artifactID"]}


def resolve_add_aliases(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx(info).queued.extend(artifact_links.add_aliases(writer(info), input))
    return _answer("success", True, input)


def resolve_delete_aliases(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    artifact_links.delete_aliases(writer(info), input)
    return _answer("success", True, input)


def resolve_update(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    w = writer(info)
    art, queued = artifact_links.update(w, input)
    ctx(info).queued.extend(queued)
    return _answer("artifact", artifact(w.con, art), input)


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "linkArtifact": resolve_link,
        "unlinkArtifact": resolve_unlink,
        "addAliases": resolve_add_aliases,
        "deleteAliases": resolve_delete_aliases,
        "updateArtifact": resolve_update,
        "createArtifact": resolve_create,
        "createArtifactManifest": resolve_create_manifest,
        "updateArtifactManifest": resolve_update_manifest,
        "createArtifactFiles": resolve_create_files,
        "commitArtifact": resolve_commit,
        "useArtifact": resolve_use,
    },
}
