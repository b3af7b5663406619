"""API keys (W&B format, stored as sha256) and the role checks behind every operation.

Team admins manage webhooks and secrets; team admins and the admins of a project or
registry manage the automations scoped to it; members read; others are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import sqlite3
import string

from reconcile.server import store
from reconcile.server.errors import Forbidden, Unauthenticated
from reconcile.server.store import Project, Team, User

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
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic authorization header") from None
        key = decoded.partition(":")[2]
    else:
        raise Unauthenticated(f"unsupported authorization scheme {scheme!r}")
    if not KEY_RE.match(key):
        raise Unauthenticated("invalid API key")
    return key


def authenticate(con: sqlite3.Connection, header: str | None) -> User:
    user = store.user_for_key_hash(con, hash_key(key_from_header(header)))
    if user is None:
        raise Unauthenticated("invalid API key")
    return user


def require_member(con: sqlite3.Connection, user: User, team: Team) -> str:
    """The caller's role in the team; refused when the caller is not in it."""
    role = store.member_role(con, team.id, user.id)
    if role is None:
        raise Forbidden(f"permission denied: {user.username} is not a member of {team.name}")
    return role


def require_team_admin(con: sqlite3.Connection, user: User, team: Team, what: str) -> None:
    if require_member(con, user, team) != "admin":
        raise Forbidden(f"permission denied: only admins of team {team.name} can {what}")


def require_project_admin(
    con: sqlite3.Connection, user: User, team: Team, project: Project, what: str
) -> None:
    """Team admins, and admins of this project (or registry), may proceed."""
    role = require_member(con, user, team)
    if role == "admin" or store.is_project_admin(con, project.id, user.id):
        return
    kind = "registry" if project.is_registry else "project"
    raise Forbidden(
        f"permission denied: only admins of {kind} {project.name} or of team {team.name} can {what}"
    )
