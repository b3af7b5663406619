"""SQLite access for the embedded server: opening, schema migrations, transactions.

One connection per `Database`, serialised by a lock; every operation runs in one
transaction (`BEGIN IMMEDIATE` for writes, so concurrent writers queue, not fail).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DB = Path(".reconcile/server.db")

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL DEFAULT '',
        default_entity TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key_hash TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE TABLE entities (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE members (
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        PRIMARY KEY (entity_id, user_id)
    );
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL,
        UNIQUE (entity_id, name)
    );
    CREATE TABLE project_admins (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (project_id, user_id)
    );
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        type_name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE secrets (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (entity_id, name)
    );
    CREATE TABLE integrations (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        url_endpoint TEXT NOT NULL,
        secret_ref TEXT,
        access_token_ref TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (entity_id, name)
    );
    CREATE TABLE triggers (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT,
        enabled INTEGER NOT NULL,
        scope_type TEXT NOT NULL,
        scope_id INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        event_filter TEXT NOT NULL,
        action_type TEXT NOT NULL,
        integration_id INTEGER REFERENCES integrations(id),
        action_config TEXT NOT NULL,
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (entity_id, name)
    );
    CREATE INDEX triggers_scope ON triggers (scope_type, scope_id);
    CREATE INDEX triggers_entity_order ON triggers (entity_id, id);
    """,
    # 2: Slack integrations share `integrations` (one id space, one foreign key from
    # triggers). Their `name` is `slack:<channel>`, which no webhook name can be.
    """
    ALTER TABLE integrations ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook'
        CHECK (kind IN ('webhook', 'slack'));
    ALTER TABLE integrations ADD COLUMN slack_team TEXT;
    ALTER TABLE integrations ADD COLUMN channel_name TEXT;
    CREATE UNIQUE INDEX integrations_slack_channel ON integrations (entity_id, channel_name)
        WHERE kind = 'slack';
    """,
    # 3: hashes of deleted keys, so that a key in RECONCILE_ADMIN_KEY is never re-added
    # once revoked.
    """
    CREATE TABLE revoked_keys (
        key_hash TEXT PRIMARY KEY,
        revoked_at TEXT NOT NULL
    );
    """,
)


def now() -> str:
    """The current UTC time as W&B formats it (ISO-8601, seconds, `Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _create_private(path: Path) -> None:
    """Create the database file 0600 (it holds emails, webhook URLs and key hashes).

    SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    path.chmod(0o600)  # whatever the umask


class Database:
    """An open SQLite database at the latest schema version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _make_folder(path.parent)
        _create_private(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per operation.
        self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA foreign_keys=ON")
        self._con.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: a consistent snapshot for the whole operation."""
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield self._con
            finally:
                self._con.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def version(self) -> int:
        with self.read() as con:
            row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        with self.write() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} has schema version {current}, newer than this "
                    f"program knows ({len(MIGRATIONS)})"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                # executescript would COMMIT our transaction; run statements one by one.
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, now()),
                )
                log.info("database migrated", extra={"db": str(self.path), "version": version})


def _make_folder(folder: Path) -> None:
    """Create the database's folder; a new one ignores itself in git, as it will hold keys."""
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        return
    (folder / ".gitignore").write_text("*\n", encoding="utf-8")
