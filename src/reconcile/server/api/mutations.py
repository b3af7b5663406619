"""Resolvers for automation writes: create, update and delete triggers.

A trigger belongs to the entity of its scope (a registry's: the organization's entity);
the caller must administer that scope (the team, or the project/registry it lies in).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.core import features
from reconcile.server.api import auth, present, validation
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import ApiError, Forbidden, InvalidInput, MissingTrigger, NotFound
from reconcile.server.store import automations as hooks
from reconcile.server.store import teams
from reconcile.server.store.automations import (
    Integration,
    SlackIntegration,
    TriggerFields,
    TriggerRow,
    Webhook,
)
from reconcile.server.store.teams import Project, Team, User

_SCOPE_ID_KINDS = {
    "PROJECT": "Project",
    "ARTIFACT_COLLECTION": "ArtifactCollection",
    "ENTITY": "Entity",
}


@dataclass(frozen=True)
class Scope:
    """Where a trigger listens, resolved to its team and (unless ENTITY) its project."""

    type: str
    id: int
    team: Team
    project: Project | None


_SCOPE_MISSING = {
    "PROJECT": teams.PROJECT_MISSING,
    "ARTIFACT_COLLECTION": teams.COLLECTION_MISSING,
    "ENTITY": teams.TEAM_BY_ID_MISSING,
}


def load_scope(con: sqlite3.Connection, scope_type: str, scope_id: int) -> Scope:
    if scope_type == "ENTITY":
        return Scope(scope_type, scope_id, teams.get_team_by_id(con, scope_id), None)
    if scope_type == "PROJECT":
        project = teams.get_project(con, scope_id)
    else:
        project = teams.get_collection(con, scope_id).project
    return Scope(scope_type, scope_id, teams.get_team(con, project.entity_name), project)


def _require_scope_admin(
    con: sqlite3.Connection, user: User, scope: Scope, hidden: ApiError | None = None
) -> None:
    """Refused unless the caller administers the scope; to non-members it is `hidden`."""
    what = "manage its automations"
    hidden = hidden or NotFound(_SCOPE_MISSING[scope.type])
    if scope.project is None:
        auth.require_team_admin(con, user, scope.team, what, hidden=hidden)
    else:
        auth.require_project_admin(con, user, scope.team, scope.project, what, hidden=hidden)


def _scope_from_input(con: sqlite3.Connection, scope_type: str, scope_id: str) -> Scope:
    kind = _SCOPE_ID_KINDS.get(scope_type)
    if kind is None:
        raise InvalidInput(f"unknown scopeType {scope_type}")
    return load_scope(con, scope_type, decode_id(scope_id, kind)[1])


def _hidden_trigger() -> MissingTrigger:
    return MissingTrigger(hooks.TRIGGER_MISSING)


def _action(
    con: sqlite3.Connection, team: Team, user: User, action_type: str, config: dict[str, Any]
) -> tuple[int | None, str]:
    """The integration id and stored config of an action, checked against the owning
    team and the caller (see `_check_use`)."""
    key = validation.ACTION_INPUTS.get(action_type)
    if key is None:
        raise InvalidInput(f"action type {action_type} is not supported by this server")
    chosen = {k for k, v in config.items() if v is not None}
    if chosen != {key}:
        raise InvalidInput(f"triggeredActionConfig for {action_type} must set exactly {key}")
    if action_type == "NO_OP":
        return None, "{}"
    given = config[key]
    found = hooks.get_integration(con, decode_id(given["integrationID"], "Integration")[1])
    _check_use(con, team, user, found)
    if action_type == "NOTIFICATION":
        return found.id, _notification_config(found, given)
    return found.id, _webhook_config(found, given)


def _check_use(con: sqlite3.Connection, owner: Team, user: User, found: Integration) -> None:
    """S12: who may point an automation at an integration (README, "Tenant isolation").

    A team's automations use that team's integrations; a registry's (owned by the org
    entity) those of a team of its organization, as webhooks live in team settings.
    And whoever creates or updates the automation must be a member of the integration's
    team (W&B offers "the team that owns the webhook" among the creator's teams): being
    an admin of a registry is no right to another team's endpoint, token or signature.
    """
    if found.entity_id != owner.id:
        holder = teams.get_team_by_id(con, found.entity_id)
        if not (owner.is_org and holder.organization_id == owner.organization_id):
            # As if it did not exist: it lies outside the automation's reach.
            raise NotFound(hooks.INTEGRATION_MISSING)
    if teams.member_role(con, found.entity_id, user.id) is None:
        raise Forbidden(
            "permission denied: an automation may use only webhooks and Slack integrations "
            "of a team you are a member of"
        )


def _notification_config(found: Integration, given: dict[str, Any]) -> str:
    if not isinstance(found, SlackIntegration):
        raise InvalidInput(
            "a NOTIFICATION action needs a Slack integration; integrationID is a webhook"
        )
    return json.dumps({field: given.get(field) for field in ("title", "message", "severity")})


def _webhook_config(found: Integration, given: dict[str, Any]) -> str:
    if not isinstance(found, Webhook):
        raise InvalidInput(
            "a GENERIC_WEBHOOK action needs a webhook; integrationID is a Slack integration"
        )
    payload = given.get("requestPayload")
    validation.check_payload(payload)
    return json.dumps({"requestPayload": payload})


def _fields(
    con: sqlite3.Connection,
    scope: Scope,
    data: dict[str, Any],
    user: User,
    enabled: frozenset[str] | None = None,
) -> TriggerFields:
    validation.check_trigger_name(data["name"])
    validation.check_description(data.get("description"))
    event = data["triggeringEventType"]
    # An organization's entity holds only registries: like them, it has no runs.
    is_registry = scope.team.is_org or (scope.project is not None and scope.project.is_registry)
    validation.check_scope_for_event(event, scope.type, is_registry)
    validation.check_event_filter(event, data["eventFilter"])
    for feature in features.needed(event, scope.type):
        if enabled is not None and feature not in enabled:
            raise InvalidInput(f"{event} on a {scope.type} scope needs {feature}, not enabled here")
    integration_id, config = _action(
        con, scope.team, user, data["triggeredActionType"], data["triggeredActionConfig"]
    )
    return TriggerFields(
        name=data["name"],
        description=data.get("description"),
        enabled=bool(data["enabled"]),
        scope_type=scope.type,
        scope_id=scope.id,
        event_type=event,
        event_filter=data["eventFilter"],
        action_type=data["triggeredActionType"],
        integration_id=integration_id,
        action_config=config,
    )


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def resolve_create_trigger(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    scope = _scope_from_input(ctx.con, input["scopeType"], input["scopeID"])
    _require_scope_admin(ctx.con, ctx.user, scope)
    fields = _fields(ctx.con, scope, input, ctx.user, ctx.features)
    row = hooks.create_trigger(ctx.con, scope.team.id, fields, ctx.user.id)
    return {"trigger": _shown(ctx, row), "clientMutationId": input.get("clientMutationId")}


def _shown(ctx: RequestContext, row: TriggerRow) -> Obj:
    return present.trigger(row, present.Sight.of(ctx.con, ctx.user))


def _as_input(row: TriggerRow) -> dict[str, Any]:
    """A stored trigger in the shape of an update input, to fill fields left out."""
    config: dict[str, Any]
    stored = json.loads(row.action_config)
    if row.action_type == "GENERIC_WEBHOOK" and row.webhook is not None:
        config = {
            "genericWebhookActionInput": {
                "integrationID": present.webhook(row.webhook)["id"],
                "requestPayload": stored.get("requestPayload"),
            }
        }
    elif row.action_type == "NOTIFICATION" and row.slack is not None:
        integration_id = present.slack(row.slack)["id"]
        config = {"notificationActionInput": {"integrationID": integration_id, **stored}}
    else:
        config = {"noOpActionInput": {"noOp": True}}
    return {
        "name": row.name,
        "description": row.description,
        "enabled": row.enabled,
        "triggeringEventType": row.event_type,
        "eventFilter": row.event_filter,
        "triggeredActionType": row.action_type,
        "triggeredActionConfig": config,
    }


def resolve_update_trigger(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    current = hooks.get_trigger(ctx.con, decode_id(input["id"], "Trigger")[1])
    old_scope = load_scope(ctx.con, current.scope_type, current.scope_id)
    _require_scope_admin(ctx.con, ctx.user, old_scope, _hidden_trigger())
    merged = _as_input(current) | {k: v for k, v in input.items() if v is not None}
    scope = old_scope
    if input.get("scopeType") is not None or input.get("scopeID") is not None:
        scope = _scope_from_input(
            ctx.con,
            input.get("scopeType") or current.scope_type,
            input.get("scopeID") or present.trigger(current)["scope"]["id"],
        )
        # A move is a create in the new place: the same role checks there. The owner
        # follows the scope (a registry's automations belong to its organization's entity).
        _require_scope_admin(ctx.con, ctx.user, scope)
    if "description" in input:
        merged["description"] = input["description"]
    fields = _fields(ctx.con, scope, merged, ctx.user, ctx.features)
    row = hooks.update_trigger(ctx.con, current.id, scope.team.id, fields)
    return {"trigger": _shown(ctx, row), "clientMutationId": input.get("clientMutationId")}


def resolve_delete_trigger(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    ctx = _ctx(info)
    current = hooks.get_trigger(ctx.con, decode_id(input["triggerID"], "Trigger")[1])
    scope = load_scope(ctx.con, current.scope_type, current.scope_id)
    _require_scope_admin(ctx.con, ctx.user, scope, _hidden_trigger())
    hooks.delete_trigger(ctx.con, current.id)
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {
        "createFilterTrigger": resolve_create_trigger,
        "updateFilterTrigger": resolve_update_trigger,
        "deleteTrigger": resolve_delete_trigger,
    }
}
