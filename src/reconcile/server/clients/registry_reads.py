"""Reads of versions across collections and registries: `registry.collections()` and
`registry.versions()` (an organization entity's `artifactCollections` and
`artifactMemberships`), `collection.artifacts()` and `collection.aliases`.

Filters: the SDK's registry filters (`{"id": N}` or `{"name": "wandb-registry-X"}`)
and collection filters by `name`; other filter keys are refused, naming the key.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import present
from reconcile.server.api.ids import decode_cursor, decode_id, encode_cursor
from reconcile.server.api.present import Obj
from reconcile.server.clients import artifacts
from reconcile.server.clients.artifacts_graphql import alias_object, artifact, ctx, membership
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import teams

PAGE = 50
MAX_PAGE = 1000
_FILTER_KEYS = {"id": "id", "name": "name"}


def _limit(args: dict[str, Any]) -> int:
    return min(max(args.get("first") or PAGE, 1), MAX_PAGE)


def _where(prefix: str, text: str | None, what: str) -> tuple[str, list[Any]]:
    """SQL for a filter of plain equalities on `id` and `name` (and `$and` of them)."""
    if not text:
        return "1", []
    try:
        given = json.loads(text)
    except ValueError:
        raise InvalidInput(f"{what}: not JSON") from None
    clauses = given.get("$and", [given]) if isinstance(given, dict) else None
    if not isinstance(clauses, list):
        raise InvalidInput(f"{what}: must be an object")
    sql, params = [], []
    for clause in clauses:
        if not isinstance(clause, dict):
            raise InvalidInput(f"{what}: must be an object")
        for key, value in clause.items():
            if key not in _FILTER_KEYS or not isinstance(value, str | int):
                raise InvalidInput(f"{what}: {key!r} is not supported here (id, name)")
            sql.append(f"{prefix}.{_FILTER_KEYS[key]} = ?")
            params.append(value)
    return " AND ".join(sql) or "1", params


def _readable_entity(info: GraphQLResolveInfo, parent: Obj) -> teams.Team | None:
    team: teams.Team = parent["_row"]
    con, user = ctx(info).con, ctx(info).user
    return team if teams.member_role(con, team.id, user.id) is not None else None


def resolve_entity_collections(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    team = _readable_entity(info, parent)
    con = ctx(info).con
    projects, p_params = _where("p", args.get("projectFilters"), "projectFilters")
    collections, c_params = _where("c", args.get("filters"), "filters")
    kinds = args.get("collectionTypes") or ["SEQUENCE", "PORTFOLIO"]
    after, limit = decode_cursor(args.get("after")), _limit(args)
    rows = con.execute(
        "SELECT c.id, p.name LIKE 'wandb-registry-%' AS registry FROM collections AS c "
        "JOIN projects AS p ON p.id = c.project_id "
        f"WHERE p.entity_id = ? AND c.id > ? AND {projects} AND {collections} ORDER BY c.id",
        [team.id if team else 0, after, *p_params, *c_params],
    ).fetchall()
    wanted = [r for r in rows if ("PORTFOLIO" if r["registry"] else "SEQUENCE") in kinds]
    shown = wanted[:limit]
    nodes = [present.collection(teams.get_collection(con, int(r["id"]))) for r in shown]
    page = present.page(nodes, [int(r["id"]) for r in shown], len(wanted) > limit)
    return {**page, "totalCount": len(wanted)}


def resolve_entity_memberships(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    team = _readable_entity(info, parent)
    con = ctx(info).con
    projects, p_params = _where("p", args.get("projectFilters"), "projectFilters")
    collections, c_params = _where("c", args.get("collectionFilters"), "collectionFilters")
    if args.get("filters") not in (None, "", "{}"):
        raise InvalidInput("filters: filtering versions is not supported here")
    after, limit = decode_cursor(args.get("after")), _limit(args)
    rows = con.execute(
        "SELECT m.id, m.artifact_id, m.collection_id FROM artifact_memberships AS m "
        "JOIN collections AS c ON c.id = m.collection_id "
        "JOIN projects AS p ON p.id = c.project_id "
        f"WHERE p.entity_id = ? AND m.id > ? AND {projects} AND {collections} "
        "ORDER BY m.id LIMIT ?",
        [team.id if team else 0, after, *p_params, *c_params, limit + 1],
    ).fetchall()
    shown = rows[:limit]
    nodes = [_membership(con, int(r["artifact_id"]), int(r["collection_id"])) for r in shown]
    page = present.page(nodes, [int(r["id"]) for r in shown], len(rows) > limit)
    return {**page, "totalCount": None}


def _membership(con: sqlite3.Connection, artifact_id: int, collection_id: int) -> Obj:
    found = membership(con, artifacts.get(con, artifact_id), collection_id)
    assert found is not None
    return found


def _collection(info: GraphQLResolveInfo, parent: Obj) -> teams.Collection | None:
    con = ctx(info).con
    collection = teams.get_collection(con, decode_id(parent["id"], "ArtifactCollection")[1])
    if teams.member_role(con, collection.project.entity_id, ctx(info).user.id) is None:
        return None
    return collection


def resolve_collection_aliases(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    collection = _collection(info, parent)
    if collection is None:
        return present.page([], [], False)
    con = ctx(info).con
    after, limit = decode_cursor(args.get("after")), _limit(args)
    rows = con.execute(
        "SELECT rowid, alias FROM artifact_aliases WHERE collection_id = ? AND rowid > ? "
        "ORDER BY rowid LIMIT ?",
        (collection.id, after, limit + 1),
    ).fetchall()
    shown = rows[:limit]
    nodes = [alias_object(con, collection.id, r["alias"]) for r in shown]
    return present.page(nodes, [int(r["rowid"]) for r in shown], len(rows) > limit)


def resolve_collection_artifacts(parent: Obj, info: GraphQLResolveInfo, **args: Any) -> Obj:
    """The collection's versions, newest first (the cursor: past the version index)."""
    collection = _collection(info, parent)
    con = ctx(info).con
    after, limit = decode_cursor(args.get("after")), _limit(args)
    if collection is None:
        return {**present.page([], [], False), "totalCount": 0}
    found = artifacts.versions_of(con, collection.id, after, limit + 1)
    shown = found[:limit]
    edges = [
        {
            "cursor": encode_cursor(index + 1),
            "version": f"v{index}",
            "node": artifact(con, artifacts.get(con, art_id)),
        }
        for art_id, index in shown
    ]
    total = con.execute(
        "SELECT COUNT(*) FROM artifact_memberships WHERE collection_id = ?", (collection.id,)
    ).fetchone()[0]
    last = encode_cursor(shown[-1][1] + 1) if shown else None
    info_page = {
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": last,
        "hasNextPage": len(found) > limit,
        "hasPreviousPage": False,
    }
    return {"totalCount": int(total), "pageInfo": info_page, "edges": edges}


def resolve_query_collection(_root: None, info: GraphQLResolveInfo, id: str) -> Obj | None:
    con = ctx(info).con
    number = decode_id(id, "ArtifactCollection")[1]
    try:
        collection = teams.get_collection(con, number)
    except NotFound:
        return None
    if teams.member_role(con, collection.project.entity_id, ctx(info).user.id) is None:
        return None
    return present.collection(collection)


_COLLECTION = {"aliases": resolve_collection_aliases, "artifacts": resolve_collection_artifacts}
RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {"artifactCollection": resolve_query_collection},
    "Entity": {
        "artifactCollections": resolve_entity_collections,
        "artifactMemberships": resolve_entity_memberships,
    },
    "ArtifactSequence": dict(_COLLECTION),
    "ArtifactPortfolio": dict(_COLLECTION),
}
