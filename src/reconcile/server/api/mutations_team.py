"""Resolvers for team-level writes: integrations, secrets, projects, registries, collections.

Webhooks, secrets, new projects and new registries need a team admin; a secret's
value is encrypted before it is stored and is never part of an answer or a log line.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import auth, present, registry_settings, validation
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import Forbidden, InvalidInput, NotFound
from reconcile.server.store import automations as hooks
from reconcile.server.store import registries, teams
from reconcile.server.store.teams import Project, Team

MAX_SECRET_BYTES = 64 * 1024


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def _done(input: dict[str, Any]) -> Obj:
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _check_refs(ctx: RequestContext, team_id: int, *refs: str | None) -> None:
    for ref in refs:
        if ref is not None and not hooks.has_secret(ctx.con, team_id, ref):
            raise InvalidInput(f"secret {ref!r} does not exist in this team")


def _a_team(ctx: RequestContext, name: str) -> Team:
    """A team by name: webhooks and secrets live in team settings, not on an org entity."""
    team = teams.get_team(ctx.con, name)
    if team.is_org:
        raise InvalidInput(
            f"{team.name} is an organization's entity; webhooks and secrets belong to its teams"
        )
    return team


def resolve_create_webhook(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    team = _a_team(ctx, input["entityName"])
    auth.require_team_admin(ctx.con, ctx.user, team, "manage webhooks")
    name = validation.check_webhook_name(input["name"])
    url = validation.check_url(input["urlEndpoint"])
    secret_ref, token_ref = input.get("secretRef"), input.get("accessTokenRef")
    _check_refs(ctx, team.id, secret_ref, token_ref)
    row = hooks.create_webhook(
        ctx.con,
        team.id,
        name=name,
        url_endpoint=url,
        secret_ref=secret_ref,
        access_token_ref=token_ref,
    )
    return {"integration": present.webhook(row), "clientMutationId": input.get("clientMutationId")}


def resolve_update_webhook(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    found = hooks.get_integration(ctx.con, decode_id(input["id"], "Integration")[1])
    team = teams.get_team_by_id(ctx.con, found.entity_id)
    hidden = NotFound(hooks.INTEGRATION_MISSING)
    auth.require_team_admin(ctx.con, ctx.user, team, "manage webhooks", hidden=hidden)
    current = hooks.get_webhook(ctx.con, found.id)
    name = validation.check_webhook_name(input.get("name") or current.name)
    url = validation.check_url(input.get("urlEndpoint") or current.url_endpoint)
    # Absent keeps a reference; an explicit null removes it.
    secret_ref = input.get("secretRef", current.secret_ref)
    token_ref = input.get("accessTokenRef", current.access_token_ref)
    _check_refs(ctx, team.id, secret_ref, token_ref)
    changed = hooks.Webhook(
        current.id, current.entity_id, name, url, secret_ref, token_ref, current.created_at
    )
    row = hooks.update_webhook(ctx.con, changed)
    return {"integration": present.webhook(row), "clientMutationId": input.get("clientMutationId")}


def resolve_delete_integration(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Delete a webhook or a Slack integration, unless an automation uses it."""
    ctx = _ctx(info)
    current = hooks.get_integration(ctx.con, decode_id(input["id"], "Integration")[1])
    team = teams.get_team_by_id(ctx.con, current.entity_id)
    hidden = NotFound(hooks.INTEGRATION_MISSING)
    auth.require_team_admin(ctx.con, ctx.user, team, "manage integrations", hidden=hidden)
    hooks.delete_integration(ctx.con, current)
    return _done(input)


def resolve_insert_secret(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    team = _a_team(ctx, input["entityName"])
    auth.require_team_admin(ctx.con, ctx.user, team, "manage secrets")
    name = validation.check_secret_name(input["secretName"])
    value: str = input["secretValue"]
    if not value or len(value.encode()) > MAX_SECRET_BYTES:
        raise InvalidInput(f"secretValue must be 1 to {MAX_SECRET_BYTES} bytes")
    hooks.put_secret(ctx.con, team.id, name, ctx.box.seal(value))
    return _done(input)


def resolve_delete_secret(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    team = teams.get_team(ctx.con, input["entityName"])
    auth.require_team_admin(ctx.con, ctx.user, team, "manage secrets")
    hooks.delete_secret(ctx.con, team.id, input["secretName"])
    return _done(input)


def resolve_upsert_model(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Create a project (or a registry, `wandb-registry-<name>`) if it does not exist;
    an existing registry's settings are saved (`Registry.save()`).

    Only team admins create them, as in W&B; the creator of a registry becomes its admin
    member. Registry names compare without case.
    """
    ctx = _ctx(info)
    name = validation.check_project_name(input.get("name") or "")
    description = validation.check_description(input.get("description"))
    team = teams.get_team(ctx.con, input.get("entityName") or ctx.user.default_entity or "")
    role = auth.require_member(ctx.con, ctx.user, team)
    _check_project_home(ctx.con, team, name)
    settings = registry_settings.read(input) if teams.is_registry_name(name) else None
    existing = teams.find_project(ctx.con, team.name, name)
    if existing is not None and not registries.can_see(ctx.con, existing, ctx.user.id):
        # A restricted registry hidden from the caller (never an org admin) is answered
        # as a new name: only admins create registries.
        existing = None
    if existing is not None:
        if settings is not None:
            existing = registry_settings.save(ctx.con, ctx.user, existing, description, settings)
        return _upserted(input, existing, False)
    if role != "admin":
        if team.is_org:
            raise Forbidden(
                f"permission denied: only admins of the teams of {team.name}'s organization "
                "create registries"
            )
        kind = "registries" if teams.is_registry_name(name) else "projects"
        raise Forbidden(f"permission denied: only admins of team {team.name} create {kind}")
    if settings is None and input.get("artifactTypes"):
        raise InvalidInput("artifactTypes are the accepted types of a registry, not of a project")
    project, _ = teams.create_project(ctx.con, team, name, ctx.user.id, description or "")
    teams.add_project_admin(ctx.con, project.id, ctx.user.id)
    if settings is not None:
        project = registry_settings.create(ctx.con, project, settings)
    return _upserted(input, project, True)


def _upserted(input: dict[str, Any], project: Project, inserted: bool) -> Obj:
    shown = present.project(project)
    return {
        "project": shown,
        "model": shown,
        "inserted": inserted,
        "clientMutationId": input.get("clientMutationId"),
    }


def _check_project_home(con: sqlite3.Connection, entity: Team, name: str) -> None:
    """Registries are projects of an organization's entity, and only they are."""
    is_registry = teams.is_registry_name(name)
    if entity.is_org and not is_registry:
        raise InvalidInput(
            f"{entity.name} is an organization's entity: it holds registries only "
            "(wandb-registry-NAME)"
        )
    if is_registry and not entity.is_org:
        raise InvalidInput(
            f"registries belong to the organization: create {name} in the entity "
            f"{teams.registry_entity(con, entity).name}"
        )


def resolve_create_collection(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    team = teams.get_team(ctx.con, input["entityName"])
    project = teams.find_project(ctx.con, team.name, input["projectName"])
    if project is None:
        auth.require_member(ctx.con, ctx.user, team)
        raise NotFound(f"project {input['projectName']!r} not found in {team.name}")
    if registries.role_of(ctx.con, project, ctx.user.id) != "member" or not project.is_registry:
        # A registry's members (registry role) create collections in it, as in W&B.
        auth.require_project_admin(ctx.con, ctx.user, team, project, "create collections in it")
    name = validation.check_name(
        "collection", input["name"], validation.COLLECTION_NAME_RE, "letters, digits, '-_.'"
    )
    type_name = validation.check_name(
        "artifact type",
        input["artifactTypeName"],
        validation.COLLECTION_NAME_RE,
        "letters, digits, '-_.'",
    )
    registry_settings.require_accepted(ctx.con, project, type_name)
    description = validation.check_description(input.get("description")) or ""
    row, _ = teams.create_collection(ctx.con, project, name, type_name, description)
    return {
        "artifactCollection": present.collection(row),
        "clientMutationId": input.get("clientMutationId"),
    }


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "createGenericWebhookIntegration": resolve_create_webhook,
        "updateGenericWebhookIntegration": resolve_update_webhook,
        "deleteIntegration": resolve_delete_integration,
        "insertSecret": resolve_insert_secret,
        "deleteSecret": resolve_delete_secret,
        "upsertModel": resolve_upsert_model,
        "createArtifactCollection": resolve_create_collection,
    }
}
