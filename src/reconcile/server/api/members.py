"""Users, team roles and API keys, each change one transaction's work: shared by the
admin commands on a database (`reconcile server --db`) and the instance admin's
mutations (`reconcile server --server`), so both check and answer alike.
"""

from __future__ import annotations

import sqlite3

from reconcile.server.api import auth, validation
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import teams
from reconcile.server.store.teams import Team, User

NAME_RULE = "letters, digits, '-_.'"


def user_named(con: sqlite3.Connection, username: str) -> User:
    user = teams.find_user(con, username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def ensure_team(con: sqlite3.Connection, name: str, organization: str | None = None) -> Team:
    """The team `name`, created if missing: in `organization` (created if missing), else in
    an organization of its own named after it. An existing team keeps its organization."""
    validation.check_name("team", name, validation.ENTITY_NAME_RE, NAME_RULE)
    if organization is not None:
        validation.check_name("organization", organization, validation.ENTITY_NAME_RE, NAME_RULE)
    found = teams.find_team(con, name)
    if found is not None:
        if found.is_org:
            raise InvalidInput(f"{name!r} is an organization's entity, not a team")
        return found
    org = None
    if organization is not None:
        org = teams.find_organization(con, organization) or teams.create_organization(
            con, organization
        )
    return teams.create_team(con, name, org)


def admin_unless_member(con: sqlite3.Connection, team: Team, user: User) -> bool:
    """Make `user` an admin of `team` unless it has a role there (an existing role
    stays); whether it was made one."""
    if teams.member_role(con, team.id, user.id) is not None:
        return False
    teams.set_member(con, team.id, user.id, "admin")
    return True


def create_user(con: sqlite3.Connection, username: str, email: str = "") -> User:
    validation.check_name("user", username, validation.ENTITY_NAME_RE, NAME_RULE)
    return teams.create_user(con, username, email)


def set_role(con: sqlite3.Connection, team: str, username: str, role: str) -> None:
    """Add the user to the team with `role`, or change its role."""
    if role not in teams.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(teams.ROLES)}")
    found = teams.get_team(con, team)
    user = user_named(con, username)
    teams.set_member(con, found.id, user.id, role)
    if user.default_entity is None:
        teams.set_default_entity(con, user.id, team)


def create_key(con: sqlite3.Connection, user: User, description: str = "") -> str:
    """A new API key for the user; only its hash is stored, so this is the only copy."""
    key = auth.generate_key()
    teams.add_api_key(con, user.id, auth.hash_key(key), description)
    return key


def delete_key(con: sqlite3.Connection, key_id: int) -> teams.KeyInfo:
    """Revoke one API key (by the id the listing shows); it is refused from now on."""
    found = [k for k in teams.api_keys(con) if k.id == key_id]
    if not found:
        raise NotFound(f"no API key with id {key_id}")
    teams.revoke_api_keys(con, "id", key_id)
    return found[0]


def remove_member(con: sqlite3.Connection, team: Team, user: User) -> None:
    """Take the user out of the team and out of the admins of its projects; its default
    entity moves to a team it is still in."""
    if not teams.remove_member(con, team.id, user.id):
        raise NotFound(f"user {user.username!r} is not a member of {team.name}")
    if user.default_entity == team.name:
        remaining = teams.teams_of(con, user.id)
        con.execute(
            "UPDATE users SET default_entity = ? WHERE id = ?",
            (remaining[0].name if remaining else None, user.id),
        )


def delete_user(con: sqlite3.Connection, username: str) -> int:
    """Delete a user with its keys and memberships; the number of keys revoked. The
    instance's admin stays: without it nobody could administer the server."""
    user = user_named(con, username)
    if teams.is_instance_admin(con, user.id):
        raise InvalidInput(
            f"user {username!r} is the instance's admin and cannot be deleted "
            "(revoke a key of it with delete-key)"
        )
    revoked = teams.revoke_api_keys(con, "user_id", user.id)
    con.execute("DELETE FROM users WHERE id = ?", (user.id,))
    return revoked
