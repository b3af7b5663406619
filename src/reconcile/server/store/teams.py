"""Rows for who and where: users, API keys, teams and roles, projects, collections.

Functions take an open connection; the caller owns the transaction, so a check and
the write it guards happen in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.server.errors import Conflict, NotFound
from reconcile.server.store.db import now, org_entity_name

ROLES = ("admin", "member", "viewer")  # W&B's team roles; a viewer writes nothing


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str
    default_entity: str | None
    created_at: str


@dataclass(frozen=True)
class Team:
    """An entity: a team, or an organization's own entity (which holds its registries)."""

    id: int
    name: str
    created_at: str
    entity_type: str = "team"
    organization_id: int | None = None

    @property
    def is_org(self) -> bool:
        return self.entity_type == "organization"


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    entity: Team


@dataclass(frozen=True)
class Project:
    id: int
    entity_id: int
    entity_name: str
    name: str
    description: str
    created_at: str
    # A registry's settings (`store/registries.py`): PRIVATE (the SDK's "organization")
    # or RESTRICTED, and whether it accepts every artifact type.
    access: str = "PRIVATE"
    allow_all_types: bool = True
    updated_at: str | None = None

    @property
    def is_registry(self) -> bool:
        return is_registry_name(self.name)


def is_registry_name(name: str) -> bool:
    # Without case, as SQLite's LIKE (which classifies trigger scopes) compares.
    return name[: len(REGISTRY_PREFIX)].lower() == REGISTRY_PREFIX


@dataclass(frozen=True)
class Collection:
    id: int
    project: Project
    name: str
    type_name: str
    description: str
    created_at: str
    tags: tuple[str, ...] = ()
    updated_at: str | None = None


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], row["email"], row["default_entity"], row["created_at"])


def create_user(con: sqlite3.Connection, username: str, email: str = "") -> User:
    if con.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
        raise Conflict(f"user {username!r} already exists")
    cur = con.execute(
        "INSERT INTO users (username, email, created_at) VALUES (?, ?, ?)",
        (username, email, now()),
    )
    return get_user(con, int(cur.lastrowid or 0))


def get_user(con: sqlite3.Connection, user_id: int) -> User:
    row = con.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(row)


def find_user(con: sqlite3.Connection, username: str) -> User | None:
    row = con.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    return _user(row) if row else None


def is_instance_admin(con: sqlite3.Connection, user_id: int) -> bool:
    row = con.execute("SELECT instance_admin FROM users WHERE id = ?", (user_id,)).fetchone()
    return bool(row and row[0])


def set_instance_admin(con: sqlite3.Connection, user_id: int) -> None:
    con.execute("UPDATE users SET instance_admin = 1 WHERE id = ?", (user_id,))


def set_default_entity(con: sqlite3.Connection, user_id: int, entity: str) -> None:
    con.execute("UPDATE users SET default_entity = ? WHERE id = ?", (entity, user_id))


def add_api_key(
    con: sqlite3.Connection, user_id: int, key_hash: str, description: str = ""
) -> None:
    con.execute(
        "INSERT INTO api_keys (user_id, key_hash, description, created_at) VALUES (?, ?, ?, ?)",
        (user_id, key_hash, description, now()),
    )


@dataclass(frozen=True)
class KeyInfo:
    """An API key as administrators see it: never the key, nor its hash."""

    id: int
    username: str
    description: str
    created_at: str


def api_keys(con: sqlite3.Connection, user_id: int | None = None) -> list[KeyInfo]:
    where, params = ("WHERE users.id = ?", (user_id,)) if user_id is not None else ("", ())
    rows = con.execute(
        "SELECT api_keys.id, users.username, api_keys.description, api_keys.created_at "
        f"FROM api_keys JOIN users ON users.id = api_keys.user_id {where} "
        "ORDER BY api_keys.id",
        params,
    ).fetchall()
    return [KeyInfo(row[0], row[1], row[2], row[3]) for row in rows]


def revoke_api_keys(con: sqlite3.Connection, where: str, param: int) -> int:
    """Delete the keys whose `id` or `user_id` is `param`; remember their hashes."""
    if where not in ("id", "user_id"):
        raise ValueError(f"keys are revoked by id or user_id, not {where!r}")
    con.execute(
        "INSERT OR IGNORE INTO revoked_keys (key_hash, revoked_at) "
        f"SELECT key_hash, ? FROM api_keys WHERE {where} = ?",
        (now(), param),
    )
    return con.execute(f"DELETE FROM api_keys WHERE {where} = ?", (param,)).rowcount


def is_revoked(con: sqlite3.Connection, key_hash: str) -> bool:
    row = con.execute("SELECT 1 FROM revoked_keys WHERE key_hash = ?", (key_hash,)).fetchone()
    return row is not None


def user_for_key_hash(con: sqlite3.Connection, key_hash: str) -> User | None:
    row = con.execute(
        "SELECT users.* FROM api_keys JOIN users ON users.id = api_keys.user_id "
        "WHERE api_keys.key_hash = ?",
        (key_hash,),
    ).fetchone()
    return _user(row) if row else None


def _team(row: sqlite3.Row) -> Team:
    return Team(
        row["id"], row["name"], row["created_at"], row["entity_type"], row["organization_id"]
    )


def create_team(
    con: sqlite3.Connection, name: str, organization: Organization | None = None
) -> Team:
    """A new team in `organization`; without one, in a new organization named after it."""
    if find_team(con, name) is not None:
        raise Conflict(f"entity {name!r} already exists")
    stamp = now()
    cur = con.execute("INSERT INTO entities (name, created_at) VALUES (?, ?)", (name, stamp))
    team_id = int(cur.lastrowid or 0)
    if organization is None:
        organization = create_organization(con, name)
    con.execute("UPDATE entities SET organization_id = ? WHERE id = ?", (organization.id, team_id))
    return get_team_by_id(con, team_id)


def create_organization(con: sqlite3.Connection, name: str) -> Organization:
    """A new organization and its entity (`<name>-org`, numbered if that name is taken)."""
    if find_organization(con, name) is not None:
        raise Conflict(f"organization {name!r} already exists")
    stamp = now()
    cur = con.execute(
        "INSERT INTO entities (name, created_at, entity_type) VALUES (?, ?, 'organization')",
        (org_entity_name(con, name), stamp),
    )
    entity_id = int(cur.lastrowid or 0)
    cur = con.execute(
        "INSERT INTO organizations (name, entity_id, created_at) VALUES (?, ?, ?)",
        (name, entity_id, stamp),
    )
    org_id = int(cur.lastrowid or 0)
    con.execute("UPDATE entities SET organization_id = ? WHERE id = ?", (org_id, entity_id))
    return Organization(org_id, name, get_team_by_id(con, entity_id))


def _organization(con: sqlite3.Connection, row: sqlite3.Row | None) -> Organization | None:
    if row is None:
        return None
    return Organization(row["id"], row["name"], get_team_by_id(con, int(row["entity_id"])))


def find_organization(con: sqlite3.Connection, name: str) -> Organization | None:
    row = con.execute("SELECT * FROM organizations WHERE name = ?", (name,)).fetchone()
    return _organization(con, row)


def organization_of(con: sqlite3.Connection, entity: Team) -> Organization | None:
    """The organization a team belongs to (for an org entity: its own organization)."""
    row = con.execute(
        "SELECT * FROM organizations WHERE id = ?", (entity.organization_id,)
    ).fetchone()
    return _organization(con, row)


def registry_entity(con: sqlite3.Connection, team: Team) -> Team:
    """The entity that holds the team's registries: its organization's entity."""
    org = organization_of(con, team)
    if org is None:
        raise NotFound(f"entity {team.name!r} belongs to no organization")
    return org.entity


def find_team(con: sqlite3.Connection, name: str) -> Team | None:
    row = con.execute("SELECT * FROM entities WHERE name = ?", (name,)).fetchone()
    return _team(row) if row else None


# "Not found" messages name only what the caller gave, so the answer for an object
# the caller may not see can be exactly the one for an object that never existed.
TEAM_BY_ID_MISSING = "entity not found"
PROJECT_MISSING = "project not found"
COLLECTION_MISSING = "artifact collection not found"


def missing_team(name: str) -> str:
    return f"entity {name!r} not found"


def get_team_by_id(con: sqlite3.Connection, team_id: int) -> Team:
    row = con.execute("SELECT * FROM entities WHERE id = ?", (team_id,)).fetchone()
    if row is None:
        raise NotFound(TEAM_BY_ID_MISSING)
    return _team(row)


def get_team(con: sqlite3.Connection, name: str) -> Team:
    team = find_team(con, name)
    if team is None:
        raise NotFound(missing_team(name))
    return team


def set_member(con: sqlite3.Connection, team_id: int, user_id: int, role: str) -> None:
    """Add a user to a team, or change the role of one already in it."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    con.execute(
        "INSERT INTO members (entity_id, user_id, role) VALUES (?, ?, ?) "
        "ON CONFLICT (entity_id, user_id) DO UPDATE SET role = excluded.role",
        (team_id, user_id, role),
    )


def remove_member(con: sqlite3.Connection, team_id: int, user_id: int) -> bool:
    """Take a user out of a team, with its admin rights on the team's projects."""
    cur = con.execute("DELETE FROM members WHERE entity_id = ? AND user_id = ?", (team_id, user_id))
    con.execute(
        "DELETE FROM project_admins WHERE user_id = ? AND project_id IN "
        "(SELECT id FROM projects WHERE entity_id = ?)",
        (user_id, team_id),
    )
    return cur.rowcount > 0


def member_role(con: sqlite3.Connection, team_id: int, user_id: int) -> str | None:
    """The user's role in a team. An org entity has no members of its own: there, the
    members of the organization's teams are members, and their admins are admins."""
    row = con.execute(
        "SELECT MIN(members.role) AS role FROM members "  # 'admin' sorts before 'member'
        "JOIN entities AS team ON team.id = members.entity_id "
        "JOIN entities AS asked ON asked.id = ? "
        "WHERE members.user_id = ? AND (team.id = asked.id OR "
        "(asked.entity_type = 'organization' AND team.organization_id = asked.organization_id))",
        (team_id, user_id),
    ).fetchone()
    return str(row["role"]) if row and row["role"] else None


def members(con: sqlite3.Connection, team_id: int) -> list[tuple[User, str]]:
    rows = con.execute(
        "SELECT users.*, members.role FROM members JOIN users ON users.id = members.user_id "
        "WHERE members.entity_id = ? ORDER BY users.username",
        (team_id,),
    ).fetchall()
    return [(_user(row), str(row["role"])) for row in rows]


def roles_of(con: sqlite3.Connection, user_id: int) -> dict[int, str]:
    """The user's role in each team they are a member of, by team id."""
    rows = con.execute(
        "SELECT entity_id, role FROM members WHERE user_id = ?", (user_id,)
    ).fetchall()
    return {int(row["entity_id"]): str(row["role"]) for row in rows}


def teams_of(con: sqlite3.Connection, user_id: int) -> list[Team]:
    rows = con.execute(
        "SELECT entities.* FROM members JOIN entities ON entities.id = members.entity_id "
        "WHERE members.user_id = ? ORDER BY entities.id",
        (user_id,),
    ).fetchall()
    return [_team(row) for row in rows]


_PROJECT_SQL = (
    "SELECT projects.*, entities.name AS entity_name FROM projects "
    "JOIN entities ON entities.id = projects.entity_id "
)


def _project(row: sqlite3.Row) -> Project:
    return Project(
        row["id"],
        row["entity_id"],
        row["entity_name"],
        row["name"],
        row["description"],
        row["created_at"],
        row["access"],
        bool(row["allow_all_types"]),
        row["updated_at"],
    )


def create_project(
    con: sqlite3.Connection,
    team: Team,
    name: str,
    created_by: int | None = None,
    description: str = "",
) -> tuple[Project, bool]:
    """The project `team/name`, created if missing; the flag says whether it was inserted."""
    found = find_project(con, team.name, name)
    if found is not None:
        return found, False
    cur = con.execute(
        "INSERT INTO projects (entity_id, name, description, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (team.id, name, description, created_by, now()),
    )
    return get_project(con, int(cur.lastrowid or 0)), True


def find_project(con: sqlite3.Connection, entity: str, name: str) -> Project | None:
    """The project `entity/name`; registry names compare without case."""
    where = "WHERE entities.name = ? AND projects.name = ?"
    if is_registry_name(name):
        # Oldest first: a database from before this rule may hold two spellings.
        where = "WHERE entities.name = ? AND lower(projects.name) = lower(?) ORDER BY projects.id"
    row = con.execute(_PROJECT_SQL + where, (entity, name)).fetchone()
    return _project(row) if row else None


def get_project(con: sqlite3.Connection, project_id: int) -> Project:
    row = con.execute(_PROJECT_SQL + "WHERE projects.id = ?", (project_id,)).fetchone()
    if row is None:
        raise NotFound(PROJECT_MISSING)
    return _project(row)


def projects_page(
    con: sqlite3.Connection,
    entity_ids: list[int],
    after: int,
    limit: int,
    hidden: list[int] | None = None,
) -> list[Project]:
    """Projects of the given teams with an id above `after`, in id order, but `hidden`."""
    marks = ",".join("?" * len(entity_ids)) or "NULL"
    # `x NOT IN (NULL)` is never true: no clause at all when nothing is hidden.
    unseen = f"AND projects.id NOT IN ({','.join('?' * len(hidden))}) " if hidden else ""
    rows = con.execute(
        _PROJECT_SQL + f"WHERE projects.entity_id IN ({marks}) AND projects.id > ? "
        f"{unseen}ORDER BY projects.id LIMIT ?",
        (*entity_ids, after, *(hidden or ()), limit),
    ).fetchall()
    return [_project(row) for row in rows]


def add_project_admin(con: sqlite3.Connection, project_id: int, user_id: int) -> None:
    """Make the user an admin of the project; of a registry, an admin member of it."""
    con.execute(
        "INSERT OR IGNORE INTO project_admins (project_id, user_id) VALUES (?, ?)",
        (project_id, user_id),
    )
    con.execute(
        "INSERT INTO registry_members (project_id, user_id, role) SELECT id, ?, 'admin' "
        "FROM projects WHERE id = ? AND name LIKE 'wandb-registry-%' "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET role = 'admin'",
        (user_id, project_id),
    )


def is_project_admin(con: sqlite3.Connection, project_id: int, user_id: int) -> bool:
    """An admin of the project, or of the registry (as a user, or through a team)."""
    row = con.execute(
        "SELECT 1 FROM project_admins WHERE project_id = ? AND user_id = ? UNION ALL "
        "SELECT 1 FROM registry_members WHERE project_id = ? AND role = 'admin' AND "
        "(user_id = ? OR team_id IN (SELECT entity_id FROM members WHERE user_id = ?))",
        (project_id, user_id, project_id, user_id, user_id),
    ).fetchone()
    return row is not None


def create_collection(
    con: sqlite3.Connection, project: Project, name: str, type_name: str, description: str = ""
) -> tuple[Collection, bool]:
    """The collection `name` in `project`, created if missing; flag as for projects."""
    found = find_collection(con, project, name)
    if found is not None:
        return found, False
    cur = con.execute(
        "INSERT INTO collections (project_id, name, type_name, description, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (project.id, name, type_name, description, now()),
    )
    return get_collection(con, int(cur.lastrowid or 0)), True


def find_collection(con: sqlite3.Connection, project: Project, name: str) -> Collection | None:
    row = con.execute(
        "SELECT id FROM collections WHERE project_id = ? AND name = ?", (project.id, name)
    ).fetchone()
    return get_collection(con, int(row["id"])) if row else None


def get_collection(con: sqlite3.Connection, collection_id: int) -> Collection:
    row = con.execute("SELECT * FROM collections WHERE id = ?", (collection_id,)).fetchone()
    if row is None:
        raise NotFound(COLLECTION_MISSING)
    project = get_project(con, int(row["project_id"]))
    tags = con.execute(
        "SELECT name FROM collection_tags WHERE collection_id = ? ORDER BY rowid",
        (collection_id,),
    ).fetchall()
    return Collection(
        row["id"],
        project,
        row["name"],
        row["type_name"],
        row["description"],
        row["created_at"],
        tuple(str(t["name"]) for t in tags),
        row["updated_at"],
    )


def collections_of(con: sqlite3.Connection, project: Project) -> list[Collection]:
    rows = con.execute(
        "SELECT id FROM collections WHERE project_id = ? ORDER BY id", (project.id,)
    ).fetchall()
    return [get_collection(con, int(row["id"])) for row in rows]
