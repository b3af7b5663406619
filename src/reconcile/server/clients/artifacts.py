"""Artifact versions as the SDK logs them: created (W&B's digest de-duplication), files
registered, committed into its sequence as `vN`; the memberships, aliases and tags of
each version. Writes that W&B turns into events return their event documents.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reconcile.server.api import validation
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import teams
from reconcile.server.store.db import now

MISSING = "artifact not found"
ALIAS_RULE = "1 to 128 characters, without '/' or ':'"
MAX_ALIASES = 100
MAX_METADATA_CHARS = 1024 * 1024
# W&B manages these aliases itself: `latest` follows the newest version of a collection
# and `vN` names version N; a `vN` given by a client is ignored, as W&B ignores it.
LATEST = "latest"


@dataclass(frozen=True)
class Artifact:
    id: int
    sequence: teams.Collection
    run_id: int | None
    digest: str
    state: str
    description: str | None
    metadata: str
    created_at: str
    updated_at: str
    version_index: int | None
    author: str | None


def _artifact(con: sqlite3.Connection, row: sqlite3.Row) -> Artifact:
    sequence = teams.get_collection(con, int(row["sequence_id"]))
    index = con.execute(
        "SELECT version_index FROM artifact_memberships WHERE artifact_id = ? "
        "AND collection_id = ?",
        (row["id"], sequence.id),
    ).fetchone()
    author = None
    if row["created_by"] is not None:
        author = teams.get_user(con, int(row["created_by"])).username
    return Artifact(
        row["id"],
        sequence,
        row["run_id"],
        row["digest"],
        row["state"],
        row["description"],
        row["metadata"],
        row["created_at"],
        row["updated_at"],
        None if index is None else int(index[0]),
        author,
    )


def get(con: sqlite3.Connection, artifact_id: int) -> Artifact:
    row = con.execute("SELECT * FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
    if row is None:
        raise NotFound(MISSING)
    return _artifact(con, row)


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not 1 <= len(alias) <= 128 or set(alias) & {"/", ":"}:
        raise InvalidInput(f"alias {str(alias)[:64]!r} is not valid: {ALIAS_RULE}")
    return alias


def is_version_alias(alias: str) -> bool:
    return alias[:1] == "v" and alias[1:].isdigit()


def metadata_text(value: str | None) -> str | None:
    """The metadata JSON object the client sent, checked (None: not given)."""
    if value is None:
        return None
    if len(value) > MAX_METADATA_CHARS:
        raise InvalidInput(f"metadata is longer than {MAX_METADATA_CHARS} characters")
    validation.json_object("metadata", value)
    return value


def find_by_digest(con: sqlite3.Connection, sequence_id: int, digest: str) -> Artifact | None:
    """The committed version of the sequence with this manifest digest (de-duplication)."""
    row = con.execute(
        "SELECT * FROM artifacts WHERE sequence_id = ? AND digest = ? AND state = 'COMMITTED' "
        "ORDER BY id DESC LIMIT 1",
        (sequence_id, digest),
    ).fetchone()
    return _artifact(con, row) if row else None


@dataclass(frozen=True)
class NewVersion:
    """What `CreateArtifact` asks for, checked."""

    sequence: teams.Collection
    run_id: int | None
    digest: str
    description: str | None
    metadata: str | None
    aliases: tuple[str, ...]


def insert(con: sqlite3.Connection, user: teams.User, new: NewVersion) -> Artifact:
    stamp = now()
    cur = con.execute(
        "INSERT INTO artifacts (sequence_id, run_id, digest, state, description, metadata, "
        "pending_aliases, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?)",
        (
            new.sequence.id,
            new.run_id,
            new.digest,
            new.description,
            new.metadata or "{}",
            json.dumps(list(new.aliases)),
            user.id,
            stamp,
            stamp,
        ),
    )
    return get(con, int(cur.lastrowid or 0))


def next_index(con: sqlite3.Connection, collection_id: int) -> int:
    row = con.execute(
        "SELECT MAX(version_index) FROM artifact_memberships WHERE collection_id = ?",
        (collection_id,),
    ).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def add_membership(con: sqlite3.Connection, artifact_id: int, collection_id: int) -> int:
    """The version index of the artifact in the collection (a new one when not a member)."""
    found = con.execute(
        "SELECT version_index FROM artifact_memberships WHERE artifact_id = ? "
        "AND collection_id = ?",
        (artifact_id, collection_id),
    ).fetchone()
    if found is not None:
        return int(found[0])
    index = next_index(con, collection_id)
    con.execute(
        "INSERT INTO artifact_memberships (artifact_id, collection_id, version_index, "
        "created_at) VALUES (?, ?, ?, ?)",
        (artifact_id, collection_id, index, now()),
    )
    return index


def membership_index(con: sqlite3.Connection, artifact_id: int, collection_id: int) -> int | None:
    row = con.execute(
        "SELECT version_index FROM artifact_memberships WHERE artifact_id = ? "
        "AND collection_id = ?",
        (artifact_id, collection_id),
    ).fetchone()
    return None if row is None else int(row[0])


def set_alias(con: sqlite3.Connection, collection_id: int, alias: str, artifact_id: int) -> bool:
    """Point the collection's alias at the version (moving it off another); False when
    it already pointed there."""
    row = con.execute(
        "SELECT artifact_id FROM artifact_aliases WHERE collection_id = ? AND alias = ?",
        (collection_id, alias),
    ).fetchone()
    if row is not None and int(row[0]) == artifact_id:
        return False
    con.execute(
        "INSERT INTO artifact_aliases (collection_id, alias, artifact_id) VALUES (?, ?, ?) "
        "ON CONFLICT (collection_id, alias) DO UPDATE SET artifact_id = excluded.artifact_id",
        (collection_id, alias, artifact_id),
    )
    return True


def remove_alias(con: sqlite3.Connection, collection_id: int, alias: str, artifact_id: int) -> bool:
    cur = con.execute(
        "DELETE FROM artifact_aliases WHERE collection_id = ? AND alias = ? AND artifact_id = ?",
        (collection_id, alias, artifact_id),
    )
    return cur.rowcount == 1


def aliases_of(con: sqlite3.Connection, artifact_id: int) -> list[tuple[int, str]]:
    """(collection id, alias) of each alias of the version, in every collection."""
    rows = con.execute(
        "SELECT collection_id, alias FROM artifact_aliases WHERE artifact_id = ? "
        "ORDER BY collection_id, alias",
        (artifact_id,),
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def alias_target(con: sqlite3.Connection, collection_id: int, alias: str) -> int | None:
    row = con.execute(
        "SELECT artifact_id FROM artifact_aliases WHERE collection_id = ? AND alias = ?",
        (collection_id, alias),
    ).fetchone()
    return None if row is None else int(row[0])


def by_index(con: sqlite3.Connection, collection_id: int, index: int) -> int | None:
    row = con.execute(
        "SELECT artifact_id FROM artifact_memberships WHERE collection_id = ? "
        "AND version_index = ?",
        (collection_id, index),
    ).fetchone()
    return None if row is None else int(row[0])


def tags_of(con: sqlite3.Connection, artifact_id: int) -> list[str]:
    rows = con.execute(
        "SELECT tag FROM artifact_tags WHERE artifact_id = ? ORDER BY tag", (artifact_id,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def add_tag(con: sqlite3.Connection, artifact_id: int, tag: str) -> bool:
    cur = con.execute(
        "INSERT OR IGNORE INTO artifact_tags (artifact_id, tag) VALUES (?, ?)", (artifact_id, tag)
    )
    return cur.rowcount == 1


def remove_tag(con: sqlite3.Connection, artifact_id: int, tag: str) -> bool:
    cur = con.execute(
        "DELETE FROM artifact_tags WHERE artifact_id = ? AND tag = ?", (artifact_id, tag)
    )
    return cur.rowcount == 1


def memberships_of(con: sqlite3.Connection, artifact_id: int) -> list[tuple[int, int, str]]:
    """(collection id, version index, created at) of each collection the version is in."""
    rows = con.execute(
        "SELECT collection_id, version_index, created_at FROM artifact_memberships "
        "WHERE artifact_id = ? ORDER BY id",
        (artifact_id,),
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def versions_of(
    con: sqlite3.Connection, collection_id: int, after: int, limit: int
) -> list[tuple[int, int]]:
    """(artifact id, version index) of the collection's versions, newest first, after the
    cursor `after` (a version index; 0: from the newest)."""
    rows = con.execute(
        "SELECT artifact_id, version_index FROM artifact_memberships WHERE collection_id = ? "
        "AND (? = 0 OR version_index < ? - 1) ORDER BY version_index DESC LIMIT ?",
        (collection_id, after, after, limit),
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def set_metadata(
    con: sqlite3.Connection, artifact_id: int, metadata: str | None, description: str | None
) -> None:
    con.execute(
        "UPDATE artifacts SET metadata = COALESCE(?, metadata), "
        "description = COALESCE(?, description), updated_at = ? WHERE id = ?",
        (metadata, description, now(), artifact_id),
    )
