"""Resolvers for instance administration: teams, users, roles, API keys and Slack
integrations, with W&B's mutation names where W&B has them (`createTeam`, `createUser`,
`createInvite`, `deleteInvite`, `deleteUser`, `generateApiKey`, `deleteApiKey`).

The instance's admin does all of it; a team admin also sets roles, removes members and
makes Slack integrations in its team; anyone makes and revokes keys of their own.
Everyone else is refused (`FORBIDDEN`).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from reconcile.server.api import auth, members, present, slack
from reconcile.server.api.context import RequestContext
from reconcile.server.api.ids import decode_id, encode_id
from reconcile.server.api.present import Obj
from reconcile.server.errors import Forbidden, InvalidInput
from reconcile.server.store import teams
from reconcile.server.store.teams import KeyInfo, Team, User

MAX_DESCRIPTION = 1024


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def resolve_create_team(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """The team, created if missing; its admin is `teamAdminUserName` (default: the
    caller) unless that user already has a role there."""
    ctx = _ctx(info)
    auth.require_instance_admin(ctx.con, ctx.user, "create teams")
    named = input.get("teamAdminUserName")
    admin = members.user_named(ctx.con, named) if named else ctx.user
    team = members.ensure_team(ctx.con, input["teamName"], input.get("organizationName"))
    made = members.admin_unless_member(ctx.con, team, admin)
    return {
        "entity": present.team(team),
        "teamAdminUserName": admin.username if made else None,
        "clientMutationId": input.get("clientMutationId"),
    }


def resolve_create_user(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """A user named `username` (default: the part of `email` before the @)."""
    ctx = _ctx(info)
    auth.require_instance_admin(ctx.con, ctx.user, "create users")
    email: str = input["email"]
    username = input.get("username") or email.partition("@")[0]
    if input.get("admin"):
        raise InvalidInput("this server has one instance admin: create the user without admin")
    user = members.create_user(ctx.con, username, email)
    return {"user": present.user(user, []), "clientMutationId": input.get("clientMutationId")}


def _team_admin(ctx: RequestContext, team_name: str, what: str) -> Team:
    """The team, whose admin (or the instance's) the caller must be."""
    team = teams.get_team(ctx.con, team_name)
    if not teams.is_instance_admin(ctx.con, ctx.user.id):
        auth.require_team_admin(ctx.con, ctx.user, team, what)
    return team


def resolve_create_invite(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Add an existing user to the team with a role (`role`, else admin or member by
    `admin`), or change its role: at once, as a server with local users does."""
    ctx = _ctx(info)
    team = _team_admin(ctx, input["entityName"], "set roles")
    username = input.get("username")
    if not username:
        raise InvalidInput("give the username of the user to add (invites by email are not sent)")
    role = input.get("role") or ("admin" if input.get("admin") else "member")
    members.set_role(ctx.con, team.name, username, role)
    user = members.user_named(ctx.con, username)
    invite = {
        "id": encode_id("Invite", user.id),
        "name": user.username,
        "email": user.email,
        "createdAt": None,
        "toUser": present.user(user, []),
        "role": role,
    }
    return {"invite": invite, "clientMutationId": input.get("clientMutationId")}


def _user_of(ctx: RequestContext, input: dict[str, Any], what: str, *kinds: str) -> User:
    """The user `input` names: by `username`, else by `id` (a member's id, as the
    SDK's `Member.delete` sends it)."""
    if input.get("username"):
        return members.user_named(ctx.con, input["username"])
    if not input.get("id"):
        raise InvalidInput(f"give the id or the username of the {what}")
    return teams.get_user(ctx.con, decode_id(input["id"], *kinds)[1])


def resolve_delete_invite(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Take a member out of the team `entityName` (W&B: `Member.delete`)."""
    ctx = _ctx(info)
    if not input.get("entityName"):
        raise InvalidInput("give entityName, the team to remove the member from")
    team = _team_admin(ctx, input["entityName"], "remove members")
    user = _user_of(ctx, input, "member to remove", "User", "Invite")
    members.remove_member(ctx.con, team, user)
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def resolve_delete_user(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Delete a user (by `id`, or by `username`) with its keys and memberships."""
    ctx = _ctx(info)
    auth.require_instance_admin(ctx.con, ctx.user, "delete users")
    user = _user_of(ctx, input, "user to delete", "User")
    revoked = members.delete_user(ctx.con, user.username)
    return {
        "user": present.user(user, []),
        "revokedApiKeys": revoked,
        "clientMutationId": input.get("clientMutationId"),
    }


def resolve_create_slack_integration(
    _root: None, info: GraphQLResolveInfo, input: dict[str, Any]
) -> Obj:
    """The team's Slack integration for `channelName`, made if missing; with
    `webhookUrl`, its incoming-webhook URL (stored encrypted, never answered)."""
    ctx = _ctx(info)
    team = _team_admin(ctx, input["entityName"], "manage integrations")
    made = slack.ensure(
        ctx.con, team, input["channelName"], input.get("slackTeamName") or "workspace"
    )
    url = input.get("webhookUrl")
    if url is not None:
        made = slack.set_url(ctx.con, ctx.box, team, made.channel_name, url)
    return {
        "integration": present.slack(made),
        "webhookUrlSet": url is not None,
        "clientMutationId": input.get("clientMutationId"),
    }


def resolve_generate_api_key(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """A new key of the caller, or of `username` (the instance's admin only). Its `name`
    is the key itself, as W&B answers: the only time it is shown."""
    ctx = _ctx(info)
    user = ctx.user
    if input.get("username") and input["username"] != ctx.user.username:
        auth.require_instance_admin(ctx.con, ctx.user, "create keys of other users")
        user = members.user_named(ctx.con, input["username"])
    description = input.get("description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
    key = members.create_key(ctx.con, user, description)
    made = teams.api_keys(ctx.con, user.id)[-1]
    shown = {"id": str(made.id), "name": key, "description": description}
    return {"apiKey": shown, "clientMutationId": input.get("clientMutationId")}


def _key_id(raw: str) -> int:
    if not raw.isdecimal() or not 0 < int(raw) < 2**63:
        raise InvalidInput(f"id {raw[:40]!r} is not an API key id (a number list-keys shows)")
    return int(raw)


def resolve_delete_api_key(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Obj:
    """Revoke a key: its owner's own, or any (the instance's admin)."""
    ctx = _ctx(info)
    key_id = _key_id(input["id"])
    if not teams.is_instance_admin(ctx.con, ctx.user.id):
        own = {k.id for k in teams.api_keys(ctx.con, ctx.user.id)}
        if key_id not in own:
            what = "revoke keys of others"
            raise Forbidden(f"permission denied: only the instance's admin can {what}")
    gone = members.delete_key(ctx.con, key_id)
    return {
        "success": True,
        "apiKey": _key_info(gone),
        "clientMutationId": input.get("clientMutationId"),
    }


def _key_info(key: KeyInfo) -> Obj:
    return {
        "id": str(key.id),
        "username": key.username,
        "description": key.description,
        "createdAt": key.created_at,
    }


def resolve_instance_api_keys(
    _root: None, info: GraphQLResolveInfo, username: str | None = None
) -> list[Obj]:
    """Every key of the instance, or of one user (ids and descriptions, never a key)."""
    ctx = _ctx(info)
    auth.require_instance_admin(ctx.con, ctx.user, "list keys")
    user_id = members.user_named(ctx.con, username).id if username is not None else None
    return [_key_info(key) for key in teams.api_keys(ctx.con, user_id)]


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {"instanceApiKeys": resolve_instance_api_keys},
    "Mutation": {
        "createTeam": resolve_create_team,
        "createUser": resolve_create_user,
        "createInvite": resolve_create_invite,
        "deleteInvite": resolve_delete_invite,
        "deleteUser": resolve_delete_user,
        "createSlackIntegration": resolve_create_slack_integration,
        "generateApiKey": resolve_generate_api_key,
        "deleteApiKey": resolve_delete_api_key,
    },
}
