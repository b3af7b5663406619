"""GraphQL reads of artifact versions in the shapes the SDK's fragments read:
`Artifact`, `ArtifactCollectionMembership`, `ArtifactAlias`, files with signed URLs;
`Query.artifact`, `Project.artifact`, `Project.artifactCollectionMembership`,
`ArtifactCollection.artifactMembership`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import present
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_cursor, decode_id, encode_id
from reconcile.server.api.present import Obj
from reconcile.server.clients import artifacts, uploads
from reconcile.server.clients.artifact_writes import readable
from reconcile.server.errors import NotFound
from reconcile.server.store import teams

FILES_PAGE = 1000


def ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def signer(info: GraphQLResolveInfo) -> uploads.Signer:
    found: uploads.Signer | None = info.root_value
    if found is None:
        raise NotFound("files are not available on this server")
    return found


def _collection(con: sqlite3.Connection, collection_id: int) -> Obj:
    return {**present.collection(teams.get_collection(con, collection_id)), "_id": collection_id}


def alias_object(con: sqlite3.Connection, collection_id: int, alias: str) -> Obj:
    return {
        "__typename": "ArtifactAlias",
        "id": encode_id("ArtifactAlias", collection_id) + ":" + alias,
        "alias": alias,
        "artifactCollection": _collection(con, collection_id),
    }


def artifact(con: sqlite3.Connection, art: artifacts.Artifact) -> Obj:
    size, count = con.execute(
        "SELECT COALESCE(SUM(u.size), 0), COUNT(*) FROM artifact_files AS f "
        "JOIN run_files AS u ON u.id = f.upload_id WHERE f.artifact_id = ?",
        (art.id,),
    ).fetchone()
    return {
        "__typename": "Artifact",
        "id": encode_id("Artifact", art.id),
        "artifactSequence": _collection(con, art.sequence.id),
        "versionIndex": art.version_index,
        "artifactType": present.artifact_type(art.sequence.project, art.sequence.type_name),
        "description": art.description,
        "metadata": art.metadata,
        "ttlDurationSeconds": -2,
        "ttlIsInherited": True,
        "tags": [
            {"__typename": "Tag", "id": encode_id("Tag", art.id) + ":" + t, "name": t}
            for t in artifacts.tags_of(con, art.id)
        ],
        "historyStep": None,
        "state": art.state,
        "size": int(size),
        "digest": art.digest,
        "digestAlgorithm": "MANIFEST_MD5",
        "commitHash": None,
        "fileCount": int(count),
        "createdAt": art.created_at,
        "updatedAt": art.updated_at,
        "aliases": [alias_object(con, c, a) for c, a in artifacts.aliases_of(con, art.id)],
        "_art": art,
    }


def membership(con: sqlite3.Connection, art: artifacts.Artifact, collection_id: int) -> Obj | None:
    row = con.execute(
        "SELECT id, version_index, created_at FROM artifact_memberships WHERE artifact_id = ? "
        "AND collection_id = ?",
        (art.id, collection_id),
    ).fetchone()
    if row is None:
        return None
    aliases = [a for c, a in artifacts.aliases_of(con, art.id) if c == collection_id]
    return {
        "__typename": "ArtifactCollectionMembership",
        "id": encode_id("ArtifactCollectionMembership", int(row["id"])),
        "versionIndex": int(row["version_index"]),
        "createdAt": row["created_at"],
        "aliases": [alias_object(con, collection_id, a) for a in aliases],
        "artifactCollection": _collection(con, collection_id),
        "artifact": artifact(con, art),
        "_art": art,
    }


def resolve_artifact(_root: None, info: GraphQLResolveInfo, id: str) -> Obj | None:
    con, user = ctx(info).con, ctx(info).user
    try:
        art = readable(con, user, decode_id(id, "Artifact")[1])
    except NotFound:
        return None
    return artifact(con, art)


def find_version(
    con: sqlite3.Connection, collection: teams.Collection, ref: str
) -> artifacts.Artifact | None:
    """The version `ref` (`vN`, an alias; empty: `latest`) of the collection names."""
    ref = ref or artifacts.LATEST
    if artifacts.is_version_alias(ref) and len(ref) < 20:
        found = artifacts.by_index(con, collection.id, int(ref[1:]))
    else:
        found = artifacts.alias_target(con, collection.id, ref)
    return None if found is None else artifacts.get(con, found)


def _in_project(info: GraphQLResolveInfo, parent: Obj, name: str) -> tuple[Any, ...] | None:
    """The collection and version `COLLECTION:REF` names in the parent project, when the
    caller may read the project."""
    project: teams.Project = parent["_row"]
    con, user = ctx(info).con, ctx(info).user
    if teams.member_role(con, project.entity_id, user.id) is None:
        return None
    collection_name, _, ref = name.partition(":")
    collection = teams.find_collection(con, project, collection_name)
    if collection is None:
        return None
    art = find_version(con, collection, ref)
    return None if art is None else (collection, art)


def resolve_project_artifact(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    found = _in_project(info, parent, name)
    return None if found is None else artifact(ctx(info).con, found[1])


def resolve_project_membership(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    found = _in_project(info, parent, name)
    return None if found is None else membership(ctx(info).con, found[1], found[0].id)


def resolve_project_collection(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    project: teams.Project = parent["_row"]
    con = ctx(info).con
    if teams.member_role(con, project.entity_id, ctx(info).user.id) is None:
        return None
    found = teams.find_collection(con, project, name)
    return None if found is None else _collection(con, found.id)


def resolve_collection_membership(
    parent: Obj, info: GraphQLResolveInfo, aliasName: str
) -> Obj | None:
    con = ctx(info).con
    collection = teams.get_collection(con, decode_id(parent["id"], "ArtifactCollection")[1])
    if teams.member_role(con, collection.project.entity_id, ctx(info).user.id) is None:
        return None
    art = find_version(con, collection, aliasName)
    return None if art is None else membership(con, art, collection.id)


def resolve_latest(parent: Obj, info: GraphQLResolveInfo) -> Obj | None:
    con = ctx(info).con
    collection = teams.get_collection(con, decode_id(parent["id"], "ArtifactCollection")[1])
    if teams.member_role(con, collection.project.entity_id, ctx(info).user.id) is None:
        return None
    art = find_version(con, collection, artifacts.LATEST)
    return None if art is None else artifact(con, art)


def _file(info: GraphQLResolveInfo, row: sqlite3.Row, art_id: int) -> Obj:
    url = uploads.download_url(signer(info), ctx(info).base_url, int(row["upload_id"]))
    return {
        "__typename": "File",
        "id": encode_id("File", int(row["id"])),
        "name": row["name"],
        "displayName": row["name"],
        "url": url,
        "directUrl": url,
        "uploadUrl": None,
        "uploadHeaders": [],
        "storagePath": None,
        "sizeBytes": int(row["size"] or 0),
        "md5": row["md5"],
        "mimetype": None,
        "digest": row["md5"],
        "uploadMultipartUrls": None,
        "_art": art_id,
    }


def resolve_files(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    art: artifacts.Artifact = parent["_art"]
    after = decode_cursor(args.get("after"))
    limit = min(max(args.get("first") or FILES_PAGE, 1), FILES_PAGE)
    names = args.get("names")
    rows = (
        ctx(info)
        .con.execute(
            "SELECT f.id, f.name, f.md5, f.upload_id, u.size FROM artifact_files AS f "
            "JOIN run_files AS u ON u.id = f.upload_id WHERE f.artifact_id = ? AND f.id > ? "
            "ORDER BY f.id LIMIT ?",
            (art.id, after, limit + 1),
        )
        .fetchall()
    )
    if names is not None:
        wanted = set(names)
        rows = [r for r in rows if r["name"] in wanted]
    shown = rows[:limit]
    nodes = [_file(info, r, art.id) for r in shown]
    return present.page(nodes, [int(r["id"]) for r in shown], len(rows) > limit)


def resolve_files_by_entries(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    names = [e["name"] for e in args.get("entries") or []]
    return resolve_files(parent, info, names=names[:FILES_PAGE], first=FILES_PAGE)


def resolve_current_manifest(parent: Obj, info: GraphQLResolveInfo) -> Obj | None:
    art: artifacts.Artifact = parent["_art"]
    con = ctx(info).con
    row = con.execute("SELECT manifest_upload FROM artifacts WHERE id = ?", (art.id,)).fetchone()
    if row[0] is None or not uploads.stored(con, int(row[0])):
        return None
    url = uploads.download_url(signer(info), ctx(info).base_url, int(row[0]))
    return {"id": encode_id("ArtifactManifest", art.id), "file": manifest_file(art, url, None)}


def manifest_file(art: artifacts.Artifact, direct: str | None, upload: str | None) -> Obj:
    return {
        "__typename": "File",
        "id": encode_id("File", art.id) + ":manifest",
        "name": "wandb_manifest.json",
        "displayName": "wandb_manifest.json",
        "url": direct,
        "directUrl": direct or "",
        "uploadUrl": upload,
        "uploadHeaders": [],
        "storagePath": None,
        "sizeBytes": 0,
        "md5": None,
        "mimetype": None,
        "digest": None,
        "uploadMultipartUrls": None,
    }


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {"artifact": resolve_artifact},
    "Project": {
        "artifact": resolve_project_artifact,
        "artifactCollectionMembership": resolve_project_membership,
        "artifactCollection": resolve_project_collection,
    },
    "ArtifactSequence": {
        "artifactMembership": resolve_collection_membership,
        "latestArtifact": resolve_latest,
    },
    "ArtifactPortfolio": {"artifactMembership": resolve_collection_membership},
    "Artifact": {
        "files": resolve_files,
        "filesByManifestEntries": resolve_files_by_entries,
        "currentManifest": resolve_current_manifest,
    },
    "ArtifactCollectionMembership": {"files": resolve_files},
}
