"""Registry settings and membership: visibility, accepted artifact types, registry roles.

As in W&B, a registry's members are users or whole teams of its organization, each with
a registry role; without one, a member of the organization is a viewer of an
`organization` (PRIVATE) registry and cannot see a RESTRICTED one. Organization admins
(the admins of its teams) are admins of every registry.
"""

from __future__ import annotations

import sqlite3

from reconcile.server.store import teams
from reconcile.server.store.db import now
from reconcile.server.store.teams import Project, Team, User

# Weakest first: a user's effective role is the strongest of their own and their teams'.
ROLES = ("restricted_viewer", "viewer", "member", "admin")
ACCESS = ("PRIVATE", "RESTRICTED")


def _strongest(roles: list[str]) -> str | None:
    return max(roles, key=ROLES.index) if roles else None


def role_of(con: sqlite3.Connection, project: Project, user_id: int) -> str | None:
    """The user's registry role, or None if the registry is hidden from them."""
    org_role = teams.member_role(con, project.entity_id, user_id)
    if org_role is None:
        return None  # outside the organization
    if org_role == "admin":
        return "admin"
    rows = con.execute(
        "SELECT rm.role FROM registry_members rm WHERE rm.project_id = ? AND (rm.user_id = ? "
        "OR rm.team_id IN (SELECT entity_id FROM members WHERE user_id = ?))",
        (project.id, user_id, user_id),
    ).fetchall()
    explicit = _strongest([str(row["role"]) for row in rows])
    if explicit is not None:
        return explicit
    if teams.is_project_admin(con, project.id, user_id):
        return "admin"
    return "viewer" if project.access == "PRIVATE" else None


def can_see(con: sqlite3.Connection, project: Project, user_id: int) -> bool:
    """A project is seen by its team's members; a registry by those with a role in it."""
    if not project.is_registry:
        return teams.member_role(con, project.entity_id, user_id) is not None
    return role_of(con, project, user_id) is not None


def hidden_from(con: sqlite3.Connection, entity_id: int, user_id: int) -> list[int]:
    """The ids of the entity's restricted registries the user may not see."""
    rows = con.execute(
        "SELECT id FROM projects WHERE entity_id = ? AND access = 'RESTRICTED' ORDER BY id",
        (entity_id,),
    ).fetchall()
    hidden = []
    for row in rows:
        if not can_see(con, teams.get_project(con, int(row["id"])), user_id):
            hidden.append(int(row["id"]))
    return hidden


def accepted_types(con: sqlite3.Connection, project: Project) -> list[str]:
    """The types saved as accepted, in the order they were added."""
    return [
        str(row["name"])
        for row in con.execute(
            "SELECT name FROM project_types WHERE project_id = ? ORDER BY rowid",
            (project.id,),
        )
    ]


def artifact_types(con: sqlite3.Connection, project: Project) -> list[str]:
    """The saved accepted types, then the types its collections use, each once."""
    saved = accepted_types(con, project)
    used = sorted({c.type_name for c in teams.collections_of(con, project)} - set(saved))
    return saved + used


def save(
    con: sqlite3.Connection,
    project: Project,
    *,
    description: str,
    access: str,
    allow_all_types: bool,
    new_types: list[str],
) -> Project:
    """Keep a registry's settings; types are only ever added (W&B never removes one)."""
    con.execute(
        "UPDATE projects SET description = ?, access = ?, allow_all_types = ?, updated_at = ? "
        "WHERE id = ?",
        (description, access, int(allow_all_types), now(), project.id),
    )
    for name in new_types:
        con.execute(
            "INSERT OR IGNORE INTO project_types (project_id, name, created_at) VALUES (?, ?, ?)",
            (project.id, name, now()),
        )
    return teams.get_project(con, project.id)


def rename(con: sqlite3.Connection, project: Project, new_name: str) -> Project:
    con.execute(
        "UPDATE projects SET name = ?, updated_at = ? WHERE id = ?", (new_name, now(), project.id)
    )
    return teams.get_project(con, project.id)


def delete(con: sqlite3.Connection, project: Project) -> None:
    """Delete the registry with its collections, members and the automations scoped to it
    or to its collections (their scopes are gone)."""
    con.execute(
        "DELETE FROM triggers WHERE (scope_type = 'PROJECT' AND scope_id = ?) OR "
        "(scope_type = 'ARTIFACT_COLLECTION' AND scope_id IN "
        "(SELECT id FROM collections WHERE project_id = ?))",
        (project.id, project.id),
    )
    con.execute("DELETE FROM projects WHERE id = ?", (project.id,))


def set_user_role(con: sqlite3.Connection, project: Project, user_id: int, role: str) -> None:
    con.execute(
        "INSERT INTO registry_members (project_id, user_id, role) VALUES (?, ?, ?) "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        (project.id, user_id, role),
    )
    if role != "admin":  # the legacy admin list would keep the rights the role takes away
        con.execute(
            "DELETE FROM project_admins WHERE project_id = ? AND user_id = ?", (project.id, user_id)
        )


def set_team_role(con: sqlite3.Connection, project: Project, team_id: int, role: str) -> None:
    con.execute(
        "INSERT INTO registry_members (project_id, team_id, role) VALUES (?, ?, ?) "
        "ON CONFLICT (project_id, team_id) DO UPDATE SET role = excluded.role",
        (project.id, team_id, role),
    )


def remove_user(con: sqlite3.Connection, project: Project, user_id: int) -> None:
    con.execute(
        "DELETE FROM registry_members WHERE project_id = ? AND user_id = ?", (project.id, user_id)
    )
    con.execute(
        "DELETE FROM project_admins WHERE project_id = ? AND user_id = ?", (project.id, user_id)
    )


def remove_team(con: sqlite3.Connection, project: Project, team_id: int) -> None:
    con.execute(
        "DELETE FROM registry_members WHERE project_id = ? AND team_id = ?", (project.id, team_id)
    )


def has_user(con: sqlite3.Connection, project: Project, user_id: int) -> bool:
    row = con.execute(
        "SELECT 1 FROM registry_members WHERE project_id = ? AND user_id = ?",
        (project.id, user_id),
    ).fetchone()
    return row is not None


def has_team(con: sqlite3.Connection, project: Project, team_id: int) -> bool:
    row = con.execute(
        "SELECT 1 FROM registry_members WHERE project_id = ? AND team_id = ?",
        (project.id, team_id),
    ).fetchone()
    return row is not None


def user_members(con: sqlite3.Connection, project: Project) -> list[tuple[User, str]]:
    rows = con.execute(
        "SELECT users.*, rm.role FROM registry_members rm JOIN users ON users.id = rm.user_id "
        "WHERE rm.project_id = ? ORDER BY users.username",
        (project.id,),
    ).fetchall()
    return [(teams.get_user(con, int(row["id"])), str(row["role"])) for row in rows]


def team_members(con: sqlite3.Connection, project: Project) -> list[tuple[Team, str]]:
    rows = con.execute(
        "SELECT rm.team_id, rm.role FROM registry_members rm JOIN entities e ON e.id = rm.team_id "
        "WHERE rm.project_id = ? ORDER BY e.name",
        (project.id,),
    ).fetchall()
    return [(teams.get_team_by_id(con, int(row["team_id"])), str(row["role"])) for row in rows]
