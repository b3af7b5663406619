"""Resolvers for a collection's edits as `ArtifactCollection.save()` sends them: name and
description, a sequence's type, and tags (each added or removed tag fires its event).

In a project its team's members edit; in a registry its admins and members (viewers
read only), and a restricted registry's collections do not exist for non-members.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.runtime.incoming import IncomingEvent
from reconcile.server.api import auth, present, registry_settings, validation
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from reconcile.server.runtime import events
from reconcile.server.store import registries, teams
from reconcile.server.store.db import now
from reconcile.server.store.teams import Collection, User

MAX_COLLECTION_TAGS = 50  # counted for a collection's `tags` in cost.UNPAGED
MAX_TAG_CHARS = 128
# W&B's rule for tag names (the SDK's TagInput pattern).
TAG_RE = re.compile(r"^[-\w]+( +[-\w]+)*$")


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def _editable(con: sqlite3.Connection, user: User, found: Collection) -> Collection:
    """The collection, if the caller may edit it; hidden as never created otherwise."""
    project = found.project
    team = teams.get_team_by_id(con, project.entity_id)
    auth.require_member(con, user, team, NotFound(teams.COLLECTION_MISSING))
    if not project.is_registry:
        return found
    role = registries.role_of(con, project, user.id)
    if role is None:
        raise NotFound(teams.COLLECTION_MISSING)
    if role not in ("admin", "member"):
        raise Forbidden(
            f"permission denied: only admins and members of registry {project.name} edit "
            f"its collections (your registry role is {role})"
        )
    return found


def _by_id(con: sqlite3.Connection, user: User, value: str, kind: str) -> Collection:
    found = teams.get_collection(con, decode_id(value, "ArtifactCollection")[1])
    found = _editable(con, user, found)
    actual = "ArtifactPortfolio" if found.project.is_registry else "ArtifactSequence"
    if actual != kind:
        raise InvalidInput(f"collection {found.name!r} is an {actual}, not an {kind}")
    return found


def _update(info: GraphQLResolveInfo, input: dict[str, Any], key: str, kind: str) -> Obj:
    ctx = _ctx(info)
    found = _by_id(ctx.con, ctx.user, input[key], kind)
    name = input.get("name") or found.name
    validation.check_name(
        "collection", name, validation.COLLECTION_NAME_RE, "letters, digits, '-_.'"
    )
    description = validation.check_description(input.get("description"))
    if name != found.name and teams.find_collection(ctx.con, found.project, name) is not None:
        raise Conflict(f"a collection named {name!r} already exists in {found.project.name}")
    ctx.con.execute(
        "UPDATE collections SET name = ?, description = ?, updated_at = ? WHERE id = ?",
        (name, found.description if description is None else description, now(), found.id),
    )
    row = teams.get_collection(ctx.con, found.id)
    return {
        "artifactCollection": present.collection(row),
        "clientMutationId": input.get("clientMutationId"),
    }


def resolve_update_sequence(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    return _update(info, input, "artifactSequenceID", "ArtifactSequence")


def resolve_update_portfolio(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    return _update(info, input, "artifactPortfolioID", "ArtifactPortfolio")


def resolve_move_sequence(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """A sequence's new type (a registry's collections keep theirs, as in W&B)."""
    ctx = _ctx(info)
    found = _by_id(ctx.con, ctx.user, input["artifactSequenceID"], "ArtifactSequence")
    type_name = registry_settings.check_type(input["destinationArtifactTypeName"])
    ctx.con.execute(
        "UPDATE collections SET type_name = ?, updated_at = ? WHERE id = ?",
        (type_name, now(), found.id),
    )
    row = teams.get_collection(ctx.con, found.id)
    return {
        "artifactCollection": present.collection(row),
        "clientMutationId": input.get("clientMutationId"),
    }


def _by_name(ctx: RequestContext, input: dict[str, Any]) -> Collection:
    team = teams.get_team(ctx.con, input["entityName"])
    auth.require_member(ctx.con, ctx.user, team)
    project = teams.find_project(ctx.con, team.name, input["projectName"])
    found = (
        teams.find_collection(ctx.con, project, input["artifactCollectionName"])
        if project
        else None
    )
    if found is None:
        raise NotFound(teams.COLLECTION_MISSING)
    return _editable(ctx.con, ctx.user, found)


def _tag_names(tags: list[dict[str, Any]]) -> list[str]:
    names = []
    for tag in tags:
        name = tag["tagName"]
        if len(name) > MAX_TAG_CHARS or not TAG_RE.fullmatch(name):
            raise InvalidInput(
                f"invalid tag {name[:MAX_TAG_CHARS]!r}: 1-{MAX_TAG_CHARS} letters, digits, "
                "'-' or '_', words separated by spaces"
            )
        names.append(name)
    return list(dict.fromkeys(names))


def resolve_add_tags(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    found = _by_name(ctx, input)
    names = [n for n in _tag_names(input["tags"]) if n not in found.tags]
    if len(found.tags) + len(names) > MAX_COLLECTION_TAGS:
        raise InvalidInput(f"a collection holds at most {MAX_COLLECTION_TAGS} tags")
    for name in names:
        ctx.con.execute(
            "INSERT INTO collection_tags (collection_id, name, created_at) VALUES (?, ?, ?)",
            (found.id, name, now()),
        )
    _fire(ctx, found, "collection_tag_added", names)
    row = teams.get_collection(ctx.con, found.id)
    tags = [present.tag(row, n) for n in row.tags if n in names]
    return {"tags": tags, "clientMutationID": input.get("clientMutationID")}


def resolve_delete_tags(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    found = _by_name(ctx, input)
    names = [n for n in _tag_names(input["tags"]) if n in found.tags]
    for name in names:
        ctx.con.execute(
            "DELETE FROM collection_tags WHERE collection_id = ? AND name = ?", (found.id, name)
        )
    _fire(ctx, found, "collection_tag_removed", names)
    return {"success": True, "clientMutationID": input.get("clientMutationID")}


def _fire(ctx: RequestContext, found: Collection, kind: str, names: list[str]) -> None:
    """One event per tag that changed, in this write's transaction, sent by the team
    the change happened in (for a registry: the caller's first team of its organization)."""
    if not names:
        return
    project = found.project
    sender = _sender(ctx.con, ctx.user, project.entity_id)
    registry = project.name[len("wandb-registry-") :] if project.is_registry else None
    batch = tuple(
        IncomingEvent(
            type=kind,
            entity=sender,
            project=project.name,
            registry=registry,
            collection=found.name,
            tag=name,
            author=ctx.user.username,
        )
        for name in names
    )
    ctx.queued.extend(events.store_within(ctx.con, ctx.box, ctx.user, batch).queued)


def _sender(con: sqlite3.Connection, user: User, entity_id: int) -> str:
    holder = teams.get_team_by_id(con, entity_id)
    if not holder.is_org:
        return holder.name
    for team in teams.teams_of(con, user.id):
        if team.organization_id == holder.organization_id:
            return team.name
    raise NotFound(teams.COLLECTION_MISSING)  # an org member is in one of its teams


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "updateArtifactSequence": resolve_update_sequence,
        "updateArtifactPortfolio": resolve_update_portfolio,
        "moveArtifactSequence": resolve_move_sequence,
        "createArtifactCollectionTagAssignments": resolve_add_tags,
        "deleteArtifactCollectionTagAssignments": resolve_delete_tags,
    },
}
