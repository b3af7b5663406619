"""Resolvers for reads: viewer, server features, projects, and an entity's lists.

Every read needs team membership; entities and projects that do not exist, or lie in
a team the caller is not in, are null, as in W&B.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import present, validation
from reconcile.server.api.context import RequestContext
from reconcile.server.api.cost import DEFAULT_PAGE, MAX_PAGE
from reconcile.server.api.ids import decode_cursor, decode_id, encode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import InvalidInput
from reconcile.server.store import automations as hooks
from reconcile.server.store import registries, teams
from reconcile.server.store.teams import Collection, Project, Team


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise InvalidInput("first must not be negative")
    return min(first, MAX_PAGE)


def resolve_viewer(_root: None, info: GraphQLResolveInfo) -> Obj:
    ctx = _ctx(info)
    return present.user(ctx.user, teams.teams_of(ctx.con, ctx.user.id))


def resolve_server_info(_root: None, info: GraphQLResolveInfo) -> Obj:
    enabled = _ctx(info).features
    return {
        "features": [
            {"name": name, "isEnabled": enabled is None or name in enabled}
            for name in present.FEATURES
        ]
    }


def _visible_team(ctx: RequestContext, name: str) -> Team | None:
    """The team, if it exists and the caller is in it: others see null either way."""
    team = teams.find_team(ctx.con, name)
    if team is None or teams.member_role(ctx.con, team.id, ctx.user.id) is None:
        return None
    return team


def _team_row(parent: Obj, info: GraphQLResolveInfo) -> Team:
    """The row behind an Entity object; an automation's scope carries only its id."""
    row = parent.get("_row")
    if isinstance(row, Team):
        return row
    return teams.get_team_by_id(_ctx(info).con, decode_id(parent["id"], "Entity")[1])


def _project_row(parent: Obj, info: GraphQLResolveInfo) -> Project:
    row = parent.get("_row")
    if isinstance(row, Project):
        return row
    return teams.get_project(_ctx(info).con, decode_id(parent["id"], "Project")[1])


def resolve_entity(_root: None, info: GraphQLResolveInfo, name: str | None = None) -> Obj | None:
    team = _visible_team(_ctx(info), name or "")
    return present.team(team) if team else None


def resolve_project(
    _root: None, info: GraphQLResolveInfo, name: str | None = None, entityName: str | None = None
) -> Obj | None:
    ctx = _ctx(info)
    team = _visible_team(ctx, entityName or ctx.user.default_entity or "")
    if team is None:
        return None
    found = teams.find_project(ctx.con, team.name, name or "")
    return _seen(ctx, found)


def _seen(ctx: RequestContext, found: Project | None) -> Obj | None:
    """The project as an answer, if the caller may see it (restricted registries)."""
    if found is None or not registries.can_see(ctx.con, found, ctx.user.id):
        return None
    return present.project(found)


def _hidden(ctx: RequestContext, entity_ids: list[int]) -> list[int]:
    """The restricted registries of these entities the caller may not see."""
    return [p for e in entity_ids for p in registries.hidden_from(ctx.con, e, ctx.user.id)]


def _projects(
    entity_ids: list[int], info: GraphQLResolveInfo, after: str | None, first: int | None
) -> Obj:
    limit = page_size(first)
    ctx = _ctx(info)
    hidden = _hidden(ctx, entity_ids)
    rows = teams.projects_page(ctx.con, entity_ids, decode_cursor(after), limit + 1, hidden)
    shown = rows[:limit]
    return present.page(
        [present.project(p) for p in shown], [p.id for p in shown], len(rows) > limit
    )


def resolve_user_projects(
    parent: Obj, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> Obj:
    return _projects(_viewer_entities(_ctx(info), parent["_row"].id), info, after, first)


def _viewer_entities(ctx: RequestContext, user_id: int) -> list[int]:
    """The user's teams, then the entities of their organizations (the registries the
    SDK's `api.automations()` walks for their automations)."""
    rows = teams.teams_of(ctx.con, user_id)
    orgs = [teams.organization_of(ctx.con, t) for t in rows]
    holders = sorted({org.entity.id for org in orgs if org is not None})
    return [t.id for t in rows] + holders


def resolve_entity_projects(
    parent: Obj,
    info: GraphQLResolveInfo,
    *,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    **_order: Any,
) -> Obj:
    if filters is None:
        return _projects([_team_row(parent, info).id], info, after, first)
    keep = project_name_filter(filters)
    limit = page_size(first)
    ctx = _ctx(info)
    entity_ids = [_team_row(parent, info).id]
    rows = teams.projects_page(
        ctx.con, entity_ids, decode_cursor(after), -1, _hidden(ctx, entity_ids)
    )
    rows = [p for p in rows if keep(p.name)]
    shown = rows[:limit]
    return present.page(
        [present.project(p) for p in shown], [p.id for p in shown], len(rows) > limit
    )


def project_name_filter(filters: str) -> Callable[[str], bool]:
    """The test a `filters` argument on projects sets (what `api.registries()` sends):
    `{"name": X}` with X a name or `{"$eq"|"$regex"|"$in": ...}`; others are refused."""
    try:
        value: Any = json.loads(filters)
    except json.JSONDecodeError:
        raise InvalidInput("filters must be a JSON object") from None
    if value in ({}, None):
        return lambda _name: True
    if not isinstance(value, dict) or set(value) != {"name"}:
        raise InvalidInput('filters on projects supports only {"name": ...}')
    cond = value["name"]
    if isinstance(cond, str):
        cond = {"$eq": cond}
    if isinstance(cond, dict) and len(cond) == 1:
        ((op, arg),) = cond.items()
        if op == "$eq" and isinstance(arg, str):
            return lambda name: name == arg
        if op == "$in" and isinstance(arg, list):
            return lambda name: name in arg
        if op == "$regex" and isinstance(arg, str):
            try:
                pattern = re.compile(arg)
            except re.error as error:
                raise InvalidInput(f"filters: invalid $regex: {error}") from None
            return lambda name: pattern.search(name) is not None
    raise InvalidInput('filters.name supports a name, or one of "$eq", "$in", "$regex"')


def resolve_entity_members(parent: Obj, info: GraphQLResolveInfo) -> list[Obj]:
    rows = teams.members(_ctx(info).con, _team_row(parent, info).id)
    return [
        {
            "id": encode_id("User", u.id),
            "username": u.username,
            "name": u.username,
            "email": u.email,
            "admin": role == "admin",
            "role": role,
            "pending": False,
            "photoUrl": None,
            "accountType": "USER",
            "apiKey": None,
        }
        for u, role in rows
    ]


def resolve_entity_integrations(
    parent: Obj, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> Obj:
    limit = page_size(first)
    con = _ctx(info).con
    team_id = _team_row(parent, info).id
    rows = hooks.integrations_page(con, team_id, decode_cursor(after), limit + 1)
    shown = rows[:limit]
    sight = present.Sight.of(con, _ctx(info).user)
    return present.page(
        [present.integration(i, sight) for i in shown], [i.id for i in shown], len(rows) > limit
    )


def resolve_entity_secrets(parent: Obj, info: GraphQLResolveInfo) -> list[Obj]:
    rows = hooks.list_secrets(_ctx(info).con, _team_row(parent, info).id)
    return [{"name": s.name, "createdAt": s.created_at} for s in rows]


def resolve_entity_triggers(
    parent: Obj,
    info: GraphQLResolveInfo,
    *,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    **_order: Any,
) -> Obj:
    # `order` is accepted for compatibility; pages always follow creation order,
    # which keeps cursors stable while automations are added.
    limit = page_size(first)
    name = _name_filter(filters)
    team_id = _team_row(parent, info).id
    ctx = _ctx(info)
    hidden = registries.hidden_from(ctx.con, team_id, ctx.user.id)
    rows = hooks.triggers_page(
        ctx.con, team_id, decode_cursor(after), limit + 1, name, hidden=hidden
    )
    shown = rows[:limit]
    sight = present.Sight.of(ctx.con, ctx.user)
    return present.page(
        [present.trigger(t, sight) for t in shown], [t.id for t in shown], len(rows) > limit
    )


def _name_filter(filters: str | None) -> str | None:
    """The automation name in a `filters` argument such as `{"name": "x"}`."""
    if not filters:
        return None
    validation.check_size("filters", filters, validation.FILTERS_MAX)
    value: Any = validation.json_value("filters", filters)
    if not isinstance(value, dict) or set(value) - {"name"}:
        raise InvalidInput('filters supports only {"name": ...}')
    name = value.get("name")
    if isinstance(name, dict) and set(name) == {"$eq"}:
        name = name["$eq"]
    if name is not None and not isinstance(name, str):
        raise InvalidInput('filters.name must be a string or {"$eq": string}')
    return name


def resolve_project_triggers(parent: Obj, info: GraphQLResolveInfo, limit: int = -1) -> list[Obj]:
    # `limit` comes from the cost meter (cost.metered), not from the query: one row more
    # than the budget can take. A longer list is refused counted, before a row is read.
    project_id = _project_row(parent, info).id
    context = _ctx(info)
    if limit >= 0 and hooks.count_triggers_in_project(context.con, project_id) >= limit:
        context.meter.refuse()
    rows = hooks.triggers_in_project(context.con, project_id, limit)
    sight = present.Sight.of(context.con, context.user)
    return [present.trigger(t, sight) for t in rows]


def resolve_project_entity(parent: Obj, info: GraphQLResolveInfo) -> Obj:
    entity = _project_row(parent, info).entity_name
    return present.team(teams.get_team(_ctx(info).con, entity))


def resolve_project_collections(
    parent: Obj,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    **_order: Any,
) -> Obj:
    rows = teams.collections_of(_ctx(info).con, _project_row(parent, info))
    return _collections_page(rows, after, first, filters)


def _collections_page(
    rows: list[Collection], after: str | None, first: int | None, filters: str | None
) -> Obj:
    """A page of collections in creation order, with their total (`order` is accepted
    and ignored, as for automations: cursors stay stable)."""
    keep = collection_filter(filters)
    rows = [c for c in rows if keep(c)]
    start = decode_cursor(after)
    later = [c for c in rows if c.id > start]
    limit = page_size(first)
    shown = later[:limit]
    answer = present.page(
        [present.collection(c) for c in shown], [c.id for c in shown], len(later) > limit
    )
    return {**answer, "totalCount": len(rows)}


def collection_filter(filters: str | None) -> Callable[[Collection], bool]:
    """`{"name": ...}` as for projects (the SDK sends none by default), or nothing."""
    if not filters:
        return lambda _c: True
    validation.check_size("filters", filters, validation.FILTERS_MAX)
    test = project_name_filter(filters)
    return lambda c: test(c.name)


def resolve_artifact_type(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    """A type the project has (a registry's accepted ones, or one a collection uses);
    null otherwise, as W&B answers."""
    project = _project_row(parent, info)
    if name not in registries.artifact_types(_ctx(info).con, project):
        return None
    return present.artifact_type(project, name)


def resolve_type_collections(
    parent: Obj,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    **_order: Any,
) -> Obj:
    rows = teams.collections_of(_ctx(info).con, parent["_row"])
    rows = [c for c in rows if c.type_name == parent["name"]]
    return _collections_page(rows, after, first, filters)


def resolve_models(
    _root: None,
    info: GraphQLResolveInfo,
    entityName: str | None = None,
    after: str | None = None,
    first: int | None = None,
    **_order: Any,
) -> Obj | None:
    """An entity's projects (the SDK's `api.projects(entity)`); a team the caller is not
    in has none to show."""
    ctx = _ctx(info)
    team = _visible_team(ctx, entityName or ctx.user.default_entity or "")
    if team is None:
        return present.page([], [], False)
    return _projects([team.id], info, after, first)


def resolve_type_collection(parent: Obj, info: GraphQLResolveInfo, name: str) -> Obj | None:
    found = teams.find_collection(_ctx(info).con, parent["_row"], name)
    if found is None or found.type_name != parent["name"]:
        return None
    return present.collection(found)


def resolve_organization(_root: None, info: GraphQLResolveInfo, name: str) -> Obj | None:
    """An organization by name, for the members of its teams (others see null)."""
    ctx = _ctx(info)
    found = teams.find_organization(ctx.con, name)
    if found is None or teams.member_role(ctx.con, found.entity.id, ctx.user.id) is None:
        return None
    return present.organization(found)


def resolve_organization_feature_flags(
    _parent: Obj, info: GraphQLResolveInfo, **_ramp: Any
) -> list[Obj]:
    """W&B gates entity-scoped automations per organization too (`automation_entity_scope`,
    which the SDK's own system tests check); here it follows the server feature."""
    enabled = _ctx(info).features
    on = enabled is None or "AUTOMATION_SCOPE_ENTITY" in enabled
    return [{"rampKey": "automation_entity_scope", "isEnabled": on}]


def resolve_entity_organization(parent: Obj, info: GraphQLResolveInfo) -> Obj | None:
    found = teams.organization_of(_ctx(info).con, _team_row(parent, info))
    return present.organization(found) if found else None


def resolve_entity_project(
    parent: Obj, info: GraphQLResolveInfo, name: str | None = None
) -> Obj | None:
    found = teams.find_project(_ctx(info).con, _team_row(parent, info).name, name or "")
    return _seen(_ctx(info), found)


def resolve_user_organizations(parent: Obj, info: GraphQLResolveInfo) -> list[Obj]:
    con = _ctx(info).con
    found = {}
    for team in teams.teams_of(con, parent["_row"].id):
        org = teams.organization_of(con, team)
        if org is not None:
            found[org.id] = org
    return [present.organization(org) for _, org in sorted(found.items())]


def resolve_project_artifact_types(
    parent: Obj,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    **_include_all: Any,
) -> Obj:
    """A registry's accepted types, then the types the project's collections use;
    a page's cursor is the position in that list."""
    project = _project_row(parent, info)
    names = registries.artifact_types(_ctx(info).con, project)
    start = decode_cursor(after)
    limit = page_size(first)
    shown = names[start : start + limit]
    positions = list(range(start + 1, start + 1 + len(shown)))
    nodes = [present.artifact_type(project, n) for n in shown]
    return present.page(nodes, positions, start + limit < len(names))


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {
        "viewer": resolve_viewer,
        "serverInfo": resolve_server_info,
        "entity": resolve_entity,
        "project": resolve_project,
        "organization": resolve_organization,
        "models": resolve_models,
    },
    "User": {"projects": resolve_user_projects, "organizations": resolve_user_organizations},
    "Organization": {"featureFlags": resolve_organization_feature_flags},
    "ArtifactType": {
        "artifactCollection": resolve_type_collection,
        "artifactCollections": resolve_type_collections,
    },
    "Entity": {
        "projects": resolve_entity_projects,
        "members": resolve_entity_members,
        "integrations": resolve_entity_integrations,
        "secrets": resolve_entity_secrets,
        "triggers": resolve_entity_triggers,
        "organization": resolve_entity_organization,
        "project": resolve_entity_project,
    },
    "Project": {
        "triggers": resolve_project_triggers,
        "entity": resolve_project_entity,
        "artifactType": resolve_artifact_type,
        "artifactCollections": resolve_project_collections,
        "artifactTypes": resolve_project_artifact_types,
    },
}
