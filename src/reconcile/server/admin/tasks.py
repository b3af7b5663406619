"""Administration without GraphQL: bootstrap, users, keys, teams, projects, Slack channels.

Used by `reconcile server ...`, by tests, and by the reconciler when it runs the
embedded server itself. Every function is one transaction and the `ensure_*`
functions are idempotent. Revocations act at once: every request looks its key up.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.server.api import auth, members, slack, validation
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import teams
from reconcile.server.store.automations import SlackIntegration
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database
from reconcile.server.store.teams import Collection, Project, Team, User

log = logging.getLogger(__name__)

DEFAULT_TEAM = "local"
DEFAULT_ADMIN = "admin"
ADMIN_KEY_ENV = "RECONCILE_ADMIN_KEY"


@dataclass(frozen=True)
class Bootstrap:
    """The instance's first admin; `api_key` is set only when this call created the key."""

    username: str
    team: str
    api_key: str | None


def bootstrap(
    db: Database, *, team: str = DEFAULT_TEAM, username: str = DEFAULT_ADMIN, key: str | None = None
) -> Bootstrap:
    """Make sure an admin user exists and administers `team`; give it `key` (or a new one).

    On a database that already has users, nothing is created and no key is returned,
    unless `key` is given and not yet known (it is then added to the admin).
    """
    if key is not None and not auth.KEY_RE.match(key):
        raise InvalidInput(
            f"{ADMIN_KEY_ENV} is not a valid API key (`local-` + 40 of [A-Za-z0-9_])"
        )
    with db.write() as con:
        if key is not None and teams.is_revoked(con, auth.hash_key(key)):
            raise InvalidInput(
                f"{ADMIN_KEY_ENV} holds a revoked key: unset it, or set a new key "
                "(`reconcile server create-key` makes one)"
            )
        existing = con.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        if existing:
            admin = teams.find_user(con, username)
            if admin and key and teams.user_for_key_hash(con, auth.hash_key(key)) is None:
                teams.add_api_key(con, admin.id, auth.hash_key(key), "bootstrap")
            return Bootstrap(username, team, None)
        created = key or auth.generate_key()
        user = teams.create_user(con, username)
        teams.set_instance_admin(con, user.id)
        found = teams.find_team(con, team) or teams.create_team(con, team)
        teams.set_member(con, found.id, user.id, "admin")
        teams.set_default_entity(con, user.id, team)
        teams.add_api_key(con, user.id, auth.hash_key(created), "bootstrap")
    log.info("bootstrapped admin", extra={"user": username, "team": team})
    return Bootstrap(username, team, created)


def write_key_file(path: Path, key: str) -> None:
    """Write an API key to a new file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    path.chmod(0o600)


def ensure_team(db: Database, name: str, organization: str | None = None) -> Team:
    """The team `name`, created if missing (`members.ensure_team`)."""
    with db.write() as con:
        return members.ensure_team(con, name, organization)


def admin_of_new_team(db: Database, team: str) -> str | None:
    """Make the instance's first admin (the one `bootstrap` made) an admin of `team` unless
    it has a role there, so the key that plans and applies can use it; its name, or None
    when there is none."""
    with db.write() as con:
        user = teams.find_user(con, DEFAULT_ADMIN)
        if user is None:
            return None
        members.admin_unless_member(con, teams.get_team(con, team), user)
    return user.username


def create_user(db: Database, username: str, email: str = "") -> User:
    with db.write() as con:
        return members.create_user(con, username, email)


def create_api_key(db: Database, username: str, description: str = "") -> str:
    """A new API key for the user; only its hash is stored, so this is the only copy."""
    with db.write() as con:
        return members.create_key(con, _user(con, username), description)


def list_keys(db: Database, username: str | None = None) -> list[teams.KeyInfo]:
    """The API keys of one user, or of all: ids and descriptions, never key material."""
    with db.read() as con:
        user_id = _user(con, username).id if username is not None else None
        return teams.api_keys(con, user_id)


def key_is_active(db: Database, key: str) -> bool:
    """Whether `key` is a known, unrevoked API key."""
    with db.read() as con:
        return teams.user_for_key_hash(con, auth.hash_key(key)) is not None


def delete_key(db: Database, key_id: int) -> teams.KeyInfo:
    """Revoke one API key (by the id `list_keys` shows); it is refused from now on."""
    with db.write() as con:
        gone = members.delete_key(con, key_id)
    log.info("api key revoked", extra={"key_id": key_id, "user": gone.username})
    return gone


def remove_member(db: Database, team: str, username: str) -> None:
    """Take a user out of a team, and out of the admins of the team's projects."""
    with db.write() as con:
        members.remove_member(con, teams.get_team(con, team), _user(con, username))
    log.info("member removed", extra={"user": username, "team": team})


def delete_user(db: Database, username: str) -> int:
    """Delete a user with its keys and memberships; the number of keys revoked.

    Automations and projects it created stay (their creator becomes unknown).
    """
    with db.write() as con:
        revoked = members.delete_user(con, username)
    log.info("user deleted", extra={"user": username, "keys": revoked})
    return revoked


def set_role(db: Database, team: str, username: str, role: str) -> None:
    """Add the user to the team with `role`, or change its role."""
    with db.write() as con:
        members.set_role(con, team, username, role)


def ensure_project(db: Database, team: str, name: str, admins: tuple[str, ...] = ()) -> Project:
    """The project `team/name` (created if missing), with `admins` among its admins."""
    validation.check_project_name(name)
    with db.write() as con:
        project, _ = teams.create_project(con, teams.get_team(con, team), name)
        for username in admins:
            teams.add_project_admin(con, project.id, _user(con, username).id)
    return project


def ensure_registry(db: Database, team: str, name: str, admins: tuple[str, ...] = ()) -> Project:
    """The registry `name` of the team's organization: the project `wandb-registry-<name>`
    of the organization's entity."""
    full = name if teams.is_registry_name(name) else REGISTRY_PREFIX + name
    validation.check_project_name(full)
    with db.write() as con:
        owner = teams.registry_entity(con, teams.get_team(con, team))
        project, _ = teams.create_project(con, owner, full)
        for username in admins:
            teams.add_project_admin(con, project.id, _user(con, username).id)
    return project


def project_owner(con: sqlite3.Connection, team: str, project: str) -> str:
    """The entity that holds `project` for `team`: its organization's entity for a registry."""
    if not teams.is_registry_name(project):
        return team
    found = teams.get_team(con, team)
    return found.name if found.is_org else teams.registry_entity(con, found).name


@dataclass(frozen=True)
class Absent:
    """A project, registry or collection that is not there, and the names of its kind
    that are (for a "did you mean")."""

    entity: str
    project: str
    collection: str | None
    existing: tuple[str, ...]


def absent_scopes(db: Database, scopes: list[tuple[str, str, str | None]]) -> list[Absent]:
    """The scopes (entity, project or registry, collection) missing from the database."""
    absent: list[Absent] = []
    with db.read() as con:
        for entity, project, collection in scopes:
            owner = project_owner(con, entity, project)
            found = teams.find_project(con, owner, project)
            named = [(a.entity, a.project, a.collection) for a in absent]
            if found is None and (entity, project, None) not in named:
                absent.append(Absent(entity, project, None, _siblings(con, owner, project)))
            if collection is None:
                continue
            if found is None or teams.find_collection(con, found, collection) is None:
                names = [c.name for c in teams.collections_of(con, found)] if found else []
                absent.append(Absent(entity, project, collection, tuple(names)))
    return absent


def _siblings(con: sqlite3.Connection, owner: str, project: str) -> tuple[str, ...]:
    """The owner's projects of the same kind as `project` (registries or projects)."""
    rows = con.execute(
        "SELECT projects.name FROM projects JOIN entities ON entities.id = projects.entity_id "
        "WHERE entities.name = ? ORDER BY projects.name",
        (owner,),
    ).fetchall()
    kind = teams.is_registry_name(project)
    return tuple(r["name"] for r in rows if teams.is_registry_name(r["name"]) == kind)


def ensure_collection(
    db: Database, team: str, project: str, name: str, type_name: str = "model"
) -> Collection:
    """The collection `name` in a project or registry (created if missing)."""
    rule = "letters, digits, '-_.'"
    validation.check_name("collection", name, validation.COLLECTION_NAME_RE, rule)
    validation.check_name("artifact type", type_name, validation.COLLECTION_NAME_RE, rule)
    with db.write() as con:
        found = teams.find_project(con, project_owner(con, team, project), project)
        if found is None:
            raise NotFound(f"project {team}/{project} not found")
        collection, _ = teams.create_collection(con, found, name, type_name)
    return collection


def ensure_slack_integration(
    db: Database, team: str, channel: str, slack_team: str = "workspace"
) -> SlackIntegration:
    """The team's Slack integration for `channel` (`#` optional), created if missing.

    W&B creates these through OAuth in its UI, not through GraphQL, so this is the
    only way to make one here. An existing integration is returned unchanged.
    """
    with db.write() as con:
        return slack.ensure(con, teams.get_team(con, team), channel, slack_team)


def set_slack_url(db: Database, team: str, channel: str, url: str) -> SlackIntegration:
    """Set the incoming-webhook URL of the team's Slack integration for `channel`
    (stored encrypted with the secrets' key, never shown)."""
    slack.check_url(url)
    box = SecretBox(load_or_create_key(db.path))
    with db.write() as con:
        return slack.set_url(con, box, teams.get_team(con, team), channel, url)


def _user(con: sqlite3.Connection, username: str) -> User:
    return members.user_named(con, username)
