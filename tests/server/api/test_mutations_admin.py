"""The instance admin's mutations in process: who may call them, and every bad input
answered with a GraphQL error naming it (never a 5xx)."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.server.store import teams
from tests.server.helpers import World

CREATE_TEAM = """mutation ($name: String!, $admin: String, $org: String) {
  createTeam(input: {teamName: $name, teamAdminUserName: $admin, organizationName: $org}) {
    entity { name } teamAdminUserName } }"""
CREATE_USER = """mutation ($email: String!, $username: String, $admin: Boolean) {
  createUser(input: {email: $email, username: $username, admin: $admin}) {
    user { username email } } }"""
INVITE = """mutation ($team: String!, $username: String, $role: String, $admin: Boolean) {
  createInvite(input: {entityName: $team, username: $username, role: $role, admin: $admin}) {
    invite { name role toUser { username } } } }"""
KEY = """mutation ($username: String, $description: String) {
  generateApiKey(input: {username: $username, description: $description}) {
    apiKey { id name description } } }"""
DENIED = "FORBIDDEN: permission denied: only the instance's admin can"
DELETE_KEY = """mutation ($id: String!) { deleteApiKey(input: {id: $id}) {
  success apiKey { id username } } }"""
KEYS = """query ($username: String) { instanceApiKeys(username: $username) { id username } }"""
# As the SDK's `Member.delete` sends it.
DELETE_INVITE = """mutation ($id: String, $entity: String, $username: String) {
  deleteInvite(input: {id: $id, entityName: $entity, username: $username}) { success } }"""
DELETE_USER = """mutation ($id: ID, $username: String) {
  deleteUser(input: {id: $id, username: $username}) { user { username } revokedApiKeys } }"""
SLACK = """mutation ($team: String!, $channel: String!, $url: String) {
  createSlackIntegration(input: {entityName: $team, channelName: $channel, webhookUrl: $url}) {
    integration { channelName teamName } webhookUrlSet } }"""
MEMBERS = '{ entity(name: "acme") { members { id username } } }'


def test_the_instance_admin_creates_teams_users_roles_and_keys(world: World) -> None:
    made = world.admin.ok(CREATE_TEAM, {"name": "nlp", "admin": "mia", "org": "acme-org2"})
    assert made["createTeam"] == {"entity": {"name": "nlp"}, "teamAdminUserName": "mia"}
    again = world.admin.ok(CREATE_TEAM, {"name": "nlp"})
    assert again["createTeam"] == {"entity": {"name": "nlp"}, "teamAdminUserName": "admin"}
    user = world.admin.ok(CREATE_USER, {"email": "zoe@example.com"})["createUser"]["user"]
    assert user == {"username": "zoe", "email": "zoe@example.com"}
    invited = world.admin.ok(INVITE, {"team": "nlp", "username": "zoe", "admin": True})
    assert invited["createInvite"]["invite"] == {
        "name": "zoe",
        "role": "admin",
        "toUser": {"username": "zoe"},
    }
    key = world.admin.ok(KEY, {"username": "zoe", "description": "ci"})["generateApiKey"]
    assert (key["apiKey"]["description"], key["apiKey"]["name"][:6]) == ("ci", "local-")
    own = world.member.ok(KEY, {})["generateApiKey"]["apiKey"]  # anyone: a key of one's own
    listed = world.admin.ok(KEYS, {"username": "zoe"})["instanceApiKeys"]
    assert listed == [{"id": key["apiKey"]["id"], "username": "zoe"}]
    gone = world.member.ok(DELETE_KEY, {"id": own["id"]})["deleteApiKey"]
    assert gone == {"success": True, "apiKey": {"id": own["id"], "username": "mia"}}
    with world.db.read() as con:
        nlp = teams.get_team(con, "nlp")
        roles = {user.username: role for user, role in teams.members(con, nlp.id)}
    assert roles == {"mia": "admin", "admin": "admin", "zoe": "admin"}


@pytest.mark.parametrize(
    ("document", "variables", "error"),
    [
        (
            CREATE_TEAM,
            {"name": "x"},
            "FORBIDDEN: permission denied: only the instance's admin can create teams",
        ),
        (
            CREATE_USER,
            {"email": "e@x"},
            "FORBIDDEN: permission denied: only the instance's admin can create users",
        ),
        (
            KEY,
            {"username": "admin"},
            f"{DENIED} create keys of other users",
        ),
        (KEYS, {}, "FORBIDDEN: permission denied: only the instance's admin can list keys"),
        (
            DELETE_KEY,
            {"id": "1"},
            "FORBIDDEN: permission denied: only the instance's admin can revoke keys of others",
        ),
        (
            INVITE,
            {"team": "acme", "username": "mia", "role": "admin"},
            "FORBIDDEN: permission denied: only admins of team acme can set roles",
        ),
        (INVITE, {"team": "other", "username": "mia"}, "NOT_FOUND: entity 'other' not found"),
    ],
)
def test_others_are_refused(
    world: World, document: str, variables: dict[str, Any], error: str
) -> None:
    assert world.member.fails(document, variables) == error


def test_members_and_users_are_removed_by_the_ids_the_team_lists(world: World) -> None:
    listed = world.admin.ok(MEMBERS)["entity"]["members"]
    ids = {member["username"]: member["id"] for member in listed}
    gone = world.admin.ok(DELETE_INVITE, {"id": ids["pat"], "entity": "acme"})
    assert gone == {"deleteInvite": {"success": True}}
    deleted = world.admin.ok(DELETE_USER, {"id": ids["mia"]})["deleteUser"]
    assert deleted == {"user": {"username": "mia"}, "revokedApiKeys": 1}
    left = world.admin.ok(MEMBERS)["entity"]["members"]
    assert [member["username"] for member in left] == ["admin", "reg"]
    made = world.admin.ok(SLACK, {"team": "acme", "channel": "#ops"})["createSlackIntegration"]
    assert made == {
        "integration": {"channelName": "ops", "teamName": "workspace"},
        "webhookUrlSet": False,
    }


@pytest.mark.parametrize(
    ("document", "variables", "error"),
    [
        (
            DELETE_INVITE,
            {"entity": "acme", "username": "reg"},
            "FORBIDDEN: permission denied: only admins of team acme can remove members",
        ),
        (DELETE_USER, {"username": "reg"}, f"{DENIED} delete users"),
        (
            SLACK,
            {"team": "acme", "channel": "ops"},
            "FORBIDDEN: permission denied: only admins of team acme can manage integrations",
        ),
    ],
)
def test_members_cannot_remove_delete_or_connect(
    world: World, document: str, variables: dict[str, Any], error: str
) -> None:
    assert world.member.fails(document, variables) == error


@pytest.mark.parametrize(
    ("document", "variables", "error"),
    [
        (
            DELETE_INVITE,
            {"username": "mia"},
            "BAD_USER_INPUT: give entityName, the team to remove the member from",
        ),
        (
            DELETE_INVITE,
            {"entity": "acme"},
            "BAD_USER_INPUT: give the id or the username of the member to remove",
        ),
        (
            DELETE_INVITE,
            {"entity": "acme", "id": "bm90LWFuLWlk"},
            "BAD_USER_INPUT: invalid id 'bm90LWFuLWlk'",
        ),
        (DELETE_USER, {}, "BAD_USER_INPUT: give the id or the username of the user to delete"),
        (DELETE_USER, {"id": "VXNlcjo5OTk="}, "NOT_FOUND: no user with id 999"),
        (
            SLACK,
            {"team": "acme", "channel": "ops", "url": "ftp://x"},
            "BAD_USER_INPUT: a Slack incoming-webhook URL must be an http(s) URL with a host",
        ),
        (
            CREATE_TEAM,
            {"name": "a b"},
            "BAD_USER_INPUT: invalid team name 'a b': letters, digits, '-_.'",
        ),
        (CREATE_TEAM, {"name": "x", "admin": "nobody"}, "NOT_FOUND: user 'nobody' not found"),
        (
            CREATE_TEAM,
            {"name": "acme-org"},
            "BAD_USER_INPUT: 'acme-org' is an organization's entity, not a team",
        ),
        (
            CREATE_USER,
            {"email": "@x"},
            "BAD_USER_INPUT: invalid user name '': letters, digits, '-_.'",
        ),
        (CREATE_USER, {"email": "m@x", "username": "mia"}, "CONFLICT: user 'mia' already exists"),
        (
            CREATE_USER,
            {"email": "n@x", "admin": True},
            "BAD_USER_INPUT: this server has one instance admin: create the user without admin",
        ),
        (
            INVITE,
            {"team": "acme", "username": "mia", "role": "owner"},
            "BAD_USER_INPUT: role must be one of admin, member, viewer",
        ),
        (
            INVITE,
            {"team": "acme"},
            "BAD_USER_INPUT: give the username of the user to add (invites by email are not sent)",
        ),
        (INVITE, {"team": "nope", "username": "mia"}, "NOT_FOUND: entity 'nope' not found"),
        (KEY, {"username": "nobody"}, "NOT_FOUND: user 'nobody' not found"),
        (
            KEY,
            {"description": "d" * 1025},
            "BAD_USER_INPUT: description is longer than 1024 characters",
        ),
        (
            DELETE_KEY,
            {"id": "abc"},
            "BAD_USER_INPUT: id 'abc' is not an API key id (a number list-keys shows)",
        ),
        (
            DELETE_KEY,
            {"id": "9" * 30},
            f"BAD_USER_INPUT: id '{'9' * 30}' is not an API key id (a number list-keys shows)",
        ),
        (DELETE_KEY, {"id": "999"}, "NOT_FOUND: no API key with id 999"),
        (KEYS, {"username": "nobody"}, "NOT_FOUND: user 'nobody' not found"),
    ],
)
def test_bad_input_is_a_graphql_error_naming_it(
    world: World, document: str, variables: dict[str, Any], error: str
) -> None:
    assert world.admin.fails(document, variables) == error
