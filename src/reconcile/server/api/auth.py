"""API keys (W&B format, stored as sha256) and the role checks behind every operation.

Team admins manage webhooks and secrets and create projects and registries; team
admins and the admins of a project or registry manage the automations scoped to it;
members read. To anyone else a team and everything in it does not exist: they get the
same "not found" as for a name or id that was never created.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import sqlite3
import string

from reconcile.server.errors import ApiError, Forbidden, NotFound, Unauthenticated
from reconcile.server.store import registries, teams
from reconcile.server.store.teams import Project, Team, User

KEY_PREFIX = "local-"
KEY_RE = re.compile(r"^(?:[A-Za-z0-9_]+-)?[A-Za-z0-9_]{40,}$")
_ALPHABET = string.ascii_letters + string.digits + "_"


def generate_key() -> str:
    """A fresh key: `local-` and 40 random characters the official SDK accepts."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def hash_key(key: str) -> str:
    # Keys carry ~238 bits of entropy, so an unsalted fast hash is enough.
    return hashlib.sha256(key.encode()).hexdigest()


def key_from_header(header: str | None) -> str:
    """The API key in an `Authorization` header (Basic `api:<key>` or Bearer)."""
    if not header:
        raise Unauthenticated("authentication required: send an API key")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        key = value
    elif scheme.lower() == "basic":
        try:
            # A non-ASCII header value is a ValueError, non-UTF-8 credentials a
            # UnicodeDecodeError (itself a ValueError).
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, ValueError):
            raise Unauthenticated("malformed Basic authorization header") from None
        key = decoded.partition(":")[2]
    else:
        # Never echo the header: a bare key sent without a scheme would come back.
        raise Unauthenticated("unsupported authorization scheme: use Basic or Bearer")
    if not KEY_RE.fullmatch(key):
        raise Unauthenticated("invalid API key")
    return key


def authenticate(con: sqlite3.Connection, header: str | None) -> User:
    user = teams.user_for_key_hash(con, hash_key(key_from_header(header)))
    if user is None:
        raise Unauthenticated("invalid API key")
    return user


def require_member(
    con: sqlite3.Connection, user: User, team: Team, hidden: ApiError | None = None
) -> str:
    """The caller's role in the team.

    To a non-member the team does not exist: `hidden` (the error for an object that
    was never created, by default the team's own) is raised.
    """
    role = teams.member_role(con, team.id, user.id)
    if role is None:
        raise hidden or NotFound(teams.missing_team(team.name))
    return role


def require_writer(con: sqlite3.Connection, user: User, team: Team, what: str = "write") -> str:
    """The caller's role in the team, which must let it write (runs, events): a viewer
    reads only, as in W&B."""
    role = require_member(con, user, team)
    if role == "viewer":
        raise Forbidden(f"permission denied: viewers of team {team.name} cannot {what}")
    return role


def require_team_admin(
    con: sqlite3.Connection, user: User, team: Team, what: str, *, hidden: ApiError | None = None
) -> None:
    if require_member(con, user, team, hidden) != "admin":
        raise Forbidden(f"permission denied: only admins of team {team.name} can {what}")


def require_instance_admin(con: sqlite3.Connection, user: User, what: str) -> None:
    """Only the instance's admin (W&B's `User.admin`) administers users, teams and keys."""
    if not teams.is_instance_admin(con, user.id):
        raise Forbidden(f"permission denied: only the instance's admin can {what}")


def require_project_admin(
    con: sqlite3.Connection,
    user: User,
    team: Team,
    project: Project,
    what: str,
    *,
    hidden: ApiError | None = None,
) -> None:
    """Team admins, and admins of this project (or registry), may proceed; a restricted
    registry is hidden from those who are not its members."""
    role = require_member(con, user, team, hidden)
    require_sight(con, user, project, hidden)
    if role == "admin" or teams.is_project_admin(con, project.id, user.id):
        return
    kind = "registry" if project.is_registry else "project"
    raise Forbidden(
        f"permission denied: only admins of {kind} {project.name} or of team {team.name} can {what}"
    )


def require_sight(
    con: sqlite3.Connection, user: User, project: Project, hidden: ApiError | None = None
) -> None:
    """To whoever may not see a restricted registry it does not exist."""
    if project.is_registry and not registries.can_see(con, project, user.id):
        raise hidden or NotFound(teams.PROJECT_MISSING)


def require_registry_admin(
    con: sqlite3.Connection, user: User, project: Project, what: str
) -> None:
    """Registry admins (org admins among them) may proceed; others see their role refused."""
    role = registries.role_of(con, project, user.id)
    if role is None:
        raise NotFound(teams.PROJECT_MISSING)
    if role != "admin":
        raise Forbidden(
            f"permission denied: only admins of registry {project.name} can {what} "
            f"(your registry role is {role})"
        )
