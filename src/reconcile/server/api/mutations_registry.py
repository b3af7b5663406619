"""Resolvers for registry management as the SDK's `Registry` saves it: deleteModel,
renameProject, and registry members and their roles (users and whole teams).

Registry admins (and the organization's admins) manage members, roles and visibility;
a restricted registry does not exist for those who are not its members.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import auth, present, validation
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from reconcile.server.store import registries, teams
from reconcile.server.store.teams import Project, User


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def _done(input: dict[str, Any]) -> Obj:
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def seen_project(con: sqlite3.Connection, user: User, project_id: str) -> Project:
    """The project behind an id, if the caller may see it; else "not found", as for an id
    that never existed."""
    try:
        project = teams.get_project(con, decode_id(project_id, "Project")[1])
    except NotFound:
        raise NotFound(teams.PROJECT_MISSING) from None
    if not registries.can_see(con, project, user.id):
        raise NotFound(teams.PROJECT_MISSING)
    return project


def _registry(con: sqlite3.Connection, user: User, project_id: str, what: str) -> Project:
    project = seen_project(con, user, project_id)
    if not project.is_registry:
        raise InvalidInput(f"{project.name} is a project: members and roles belong to registries")
    auth.require_registry_admin(con, user, project, what)
    return project


def resolve_delete_model(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Delete a registry (its admins) or a project (its admins), with what it holds."""
    ctx = _ctx(info)
    project = seen_project(ctx.con, ctx.user, input["id"])
    if project.is_registry:
        auth.require_registry_admin(ctx.con, ctx.user, project, "delete it")
    else:
        team = teams.get_team_by_id(ctx.con, project.entity_id)
        auth.require_project_admin(ctx.con, ctx.user, team, project, "delete it")
    registries.delete(ctx.con, project)
    return _done(input)


def resolve_rename_project(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Rename a registry (its admins and members) or a project (its admins)."""
    ctx = _ctx(info)
    team = teams.get_team(ctx.con, input["entityName"])
    auth.require_member(ctx.con, ctx.user, team)
    project = teams.find_project(ctx.con, team.name, input["oldProjectName"])
    if project is None or not registries.can_see(ctx.con, project, ctx.user.id):
        raise NotFound(f"project {input['oldProjectName']!r} not found in {team.name}")
    new_name = validation.check_project_name(input["newProjectName"])
    if teams.is_registry_name(new_name) != project.is_registry:
        kind = "registry" if project.is_registry else "project"
        raise InvalidInput(
            f"a {kind} keeps its kind: {project.name} cannot be renamed {new_name} "
            "(registry names start with wandb-registry-)"
        )
    _require_rename(ctx, team, project)
    taken = teams.find_project(ctx.con, team.name, new_name)
    if taken is not None and taken.id != project.id:
        raise Conflict(f"a project named {taken.name!r} already exists in {team.name}")
    renamed = registries.rename(ctx.con, project, new_name)
    shown = present.project(renamed)
    return {"project": shown, "inserted": False, "clientMutationId": input.get("clientMutationId")}


def _require_rename(ctx: RequestContext, team: teams.Team, project: Project) -> None:
    if not project.is_registry:
        auth.require_project_admin(ctx.con, ctx.user, team, project, "rename it")
        return
    role = registries.role_of(ctx.con, project, ctx.user.id)
    if role not in ("admin", "member"):
        raise Forbidden(
            f"permission denied: only admins and members of registry {project.name} can "
            f"rename it (your registry role is {role})"
        )


def _ids(values: list[str] | None, kind: str) -> list[int]:
    return [decode_id(value, kind)[1] for value in values or []]


def _org_user(con: sqlite3.Connection, project: Project, user_id: int) -> int:
    """A user of the registry's organization (others are named as unknown alike)."""
    if teams.member_role(con, project.entity_id, user_id) is None:
        raise NotFound(f"no user {present.user_id(user_id)} in this organization")
    return user_id


def _org_team(con: sqlite3.Connection, project: Project, team_id: int) -> int:
    """A team of the registry's organization (not the organization's own entity)."""
    holder = teams.get_team_by_id(con, project.entity_id)
    try:
        team = teams.get_team_by_id(con, team_id)
    except NotFound:
        team = None
    if team is None or team.is_org or team.organization_id != holder.organization_id:
        raise NotFound(f"no team {present.team_id(team_id)} in this organization")
    return team_id


def _default_role(con: sqlite3.Connection, project: Project, user_id: int) -> str:
    """W&B's role for a user added to a registry: admin for an org admin, else viewer."""
    return "admin" if teams.member_role(con, project.entity_id, user_id) == "admin" else "viewer"


def resolve_create_members(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Add users or teams to a registry; those already in it keep their role."""
    ctx = _ctx(info)
    project = _registry(ctx.con, ctx.user, input["projectId"], "add members")
    user_ids = [_org_user(ctx.con, project, u) for u in _ids(input.get("userIds"), "User")]
    team_ids = [_org_team(ctx.con, project, t) for t in _ids(input.get("teamIds"), "Entity")]
    if not user_ids and not team_ids:
        raise InvalidInput("name at least one user (userIds) or team (teamIds) to add")
    for user_id in user_ids:
        if not registries.has_user(ctx.con, project, user_id):
            role = _default_role(ctx.con, project, user_id)
            registries.set_user_role(ctx.con, project, user_id, role)
    for team_id in team_ids:
        if not registries.has_team(ctx.con, project, team_id):
            registries.set_team_role(ctx.con, project, team_id, "viewer")
    return _done(input)


def resolve_delete_members(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    project = _registry(ctx.con, ctx.user, input["projectId"], "remove members")
    user_ids = _ids(input.get("userIds"), "User")
    team_ids = _ids(input.get("teamIds"), "Entity")
    if not user_ids and not team_ids:
        raise InvalidInput("name at least one user (userIds) or team (teamIds) to remove")
    for user_id in user_ids:
        registries.remove_user(ctx.con, project, user_id)
    for team_id in team_ids:
        registries.remove_team(ctx.con, project, team_id)
    return _done(input)


def _role(value: str) -> str:
    if value not in registries.ROLES:
        raise InvalidInput(
            f"invalid registry role {value!r}: one of {', '.join(reversed(registries.ROLES))}"
        )
    return value


def resolve_update_member(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    project = _registry(ctx.con, ctx.user, input["projectId"], "change roles")
    role = _role(input["userProjectRole"])
    user_id = decode_id(input["userId"], "User")[1]
    if not registries.has_user(ctx.con, project, user_id):
        raise NotFound(f"no user {input['userId']} among the members of {project.name}")
    registries.set_user_role(ctx.con, project, user_id, role)
    return _done(input)


def resolve_update_team_member(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    project = _registry(ctx.con, ctx.user, input["projectId"], "change roles")
    role = _role(input["teamProjectRole"])
    team_id = decode_id(input["teamId"], "Entity")[1]
    if not registries.has_team(ctx.con, project, team_id):
        raise NotFound(f"no team {input['teamId']} among the members of {project.name}")
    registries.set_team_role(ctx.con, project, team_id, role)
    return _done(input)


def _role_obj(name: str) -> Obj:
    return {"id": name, "name": name}


def resolve_project_members(parent: Obj, info: GraphQLResolveInfo) -> list[Obj]:
    """A registry's user members with their roles (a project has none listed here)."""
    ctx = _ctx(info)
    project = teams.get_project(ctx.con, decode_id(parent["id"], "Project")[1])
    return [
        {
            "id": present.user_id(user.id),
            "name": user.username,
            "username": user.username,
            "email": user.email,
            "photoUrl": None,
            "accountType": "USER",
            "role": _role_obj(role),
        }
        for user, role in registries.user_members(ctx.con, project)
    ]


def resolve_project_team_members(parent: Obj, info: GraphQLResolveInfo) -> list[Obj]:
    ctx = _ctx(info)
    project = teams.get_project(ctx.con, decode_id(parent["id"], "Project")[1])
    return [
        {"team": present.team(team), "role": _role_obj(role)}
        for team, role in registries.team_members(ctx.con, project)
    ]


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "deleteModel": resolve_delete_model,
        "renameProject": resolve_rename_project,
        "createProjectMembers": resolve_create_members,
        "deleteProjectMembers": resolve_delete_members,
        "updateProjectMember": resolve_update_member,
        "updateProjectTeamMember": resolve_update_team_member,
    },
    "Project": {
        "members": resolve_project_members,
        "teamMembers": resolve_project_team_members,
    },
}
