"""SQLite access for the embedded server: opening, schema migrations, transactions.

Writes share one connection, serialised by a lock (`BEGIN IMMEDIATE`, so concurrent
writers queue, not fail). Reads each take a read-only connection of their own from
a small pool: in WAL mode they see a consistent snapshot and wait for no one, so a
long read (a large answer being built) does not hold up other requests.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DB = Path(".reconcile/server.db")
# Idle read connections kept open; more are opened while more reads run at once.
_IDLE_READERS = 8

REGISTRY_LIKE = "wandb-registry-%"


# The tables a stored automation's row (`store.automations.TriggerRow`) and the choice
# of candidates for an event read: a write to any of them moves the generation.
MATCH_TABLES = ("triggers", "integrations", "projects", "collections", "entities")


def _match_generation(con: sqlite3.Connection) -> None:
    """`match_generation`: one row, a token naming this database and a generation that
    SQLite triggers move on every insert, update or delete of `MATCH_TABLES`.

    A new generation is random, not the next number: a rolled-back write restores the
    old value, and the next write must not land on the value the rollback discarded.
    """
    con.execute(
        "CREATE TABLE match_generation (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "token TEXT NOT NULL, n INTEGER NOT NULL)"
    )
    con.execute("INSERT INTO match_generation VALUES (1, lower(hex(randomblob(16))), 0)")
    for table in MATCH_TABLES:
        for op in ("INSERT", "UPDATE", "DELETE"):
            con.execute(
                f"CREATE TRIGGER match_generation_{table}_{op.lower()} AFTER {op} ON {table} "
                "BEGIN UPDATE match_generation SET n = random(); END"
            )


# Changes kept in `match_changes`: enough for a cached scope to catch up by a small
# read after a burst of writes elsewhere; a scope older than these reads everything.
MATCH_CHANGES_KEPT = 10_000


def _match_changes(con: sqlite3.Connection) -> None:
    """`match_changes`: which row of `MATCH_TABLES` each write touched, so matching
    reads only what changed since it read a scope (`runtime/matching.py`).

    Each entry has a random `tag`: a rolled-back write frees its sequence numbers, and
    a cache that saw the discarded entry must not take a later one for it. An entity
    that changes (rare: renames, organizations) is logged as `*`: everything is read.
    Replaces migration 9's generation, whose triggers it drops; its token stays.
    """
    for table in MATCH_TABLES:
        for op in ("insert", "update", "delete"):
            con.execute(f"DROP TRIGGER match_generation_{table}_{op}")
    con.execute(
        "CREATE TABLE match_changes (seq INTEGER PRIMARY KEY, tag INTEGER NOT NULL, "
        "tbl TEXT NOT NULL, row_id INTEGER NOT NULL)"
    )
    con.execute("INSERT INTO match_changes VALUES (1, random(), '', 0)")
    prune = f"DELETE FROM match_changes WHERE seq <= last_insert_rowid() - {MATCH_CHANGES_KEPT};"
    for table in MATCH_TABLES:
        name = "*" if table == "entities" else table
        for op, logged in (("INSERT", "new.id"), ("UPDATE", "old.id"), ("DELETE", "old.id")):
            if table == "entities" and op == "INSERT":
                continue  # a new entity is in no stored automation yet
            moved = (
                f"INSERT INTO match_changes (tag, tbl, row_id) SELECT random(), '{name}', "
                "new.id WHERE new.id IS NOT old.id;"
                if op == "UPDATE"
                else ""
            )
            con.execute(
                f"CREATE TRIGGER match_changes_{table}_{op.lower()} AFTER {op} ON {table} "
                f"BEGIN INSERT INTO match_changes (tag, tbl, row_id) "
                f"VALUES (random(), '{name}', {logged}); {moved} {prune} END"
            )


def _organizations(con: sqlite3.Connection) -> None:
    """4: organizations. Each existing team gets its own organization (named after it) and
    an org entity `<team>-org`; the team's registries, and the automations scoped to them
    or their collections, move to that org entity, as in W&B."""
    con.execute(
        "CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
        "entity_id INTEGER NOT NULL UNIQUE REFERENCES entities(id), created_at TEXT NOT NULL)"
    )
    con.execute(
        "ALTER TABLE entities ADD COLUMN entity_type TEXT NOT NULL DEFAULT 'team' "
        "CHECK (entity_type IN ('team', 'organization'))"
    )
    con.execute(
        "ALTER TABLE entities ADD COLUMN organization_id INTEGER REFERENCES organizations(id)"
    )
    teams = con.execute("SELECT id, name, created_at FROM entities ORDER BY id").fetchall()
    for team_id, name, created_at in teams:
        org_entity = org_entity_name(con, name)
        cur = con.execute(
            "INSERT INTO entities (name, created_at, entity_type) VALUES (?, ?, 'organization')",
            (org_entity, created_at),
        )
        entity_id = int(cur.lastrowid or 0)
        cur = con.execute(
            "INSERT INTO organizations (name, entity_id, created_at) VALUES (?, ?, ?)",
            (name, entity_id, created_at),
        )
        org_id = int(cur.lastrowid or 0)
        con.execute(
            "UPDATE entities SET organization_id = ? WHERE id IN (?, ?)",
            (org_id, team_id, entity_id),
        )
        moved = "SELECT id FROM projects WHERE entity_id = ? AND name LIKE ?"
        con.execute(
            "UPDATE triggers SET entity_id = ? WHERE entity_id = ? AND ("
            f"(scope_type = 'PROJECT' AND scope_id IN ({moved})) OR "
            "(scope_type = 'ARTIFACT_COLLECTION' AND scope_id IN "
            f"(SELECT id FROM collections WHERE project_id IN ({moved}))))",
            (entity_id, team_id, team_id, REGISTRY_LIKE, team_id, REGISTRY_LIKE),
        )
        con.execute(
            "UPDATE projects SET entity_id = ? WHERE entity_id = ? AND name LIKE ?",
            (entity_id, team_id, REGISTRY_LIKE),
        )


def org_entity_name(con: sqlite3.Connection, organization: str) -> str:
    """A free entity name for an organization's entity: `<org>-org`, numbered if taken."""
    candidate, number = f"{organization}-org", 1
    while con.execute("SELECT 1 FROM entities WHERE name = ?", (candidate,)).fetchone():
        number += 1
        candidate = f"{organization}-org-{number}"
    return candidate


# An automation calling an integration of another team than its owner (a registry's
# automation calling a team's webhook) whose author is not a member of that team.
_DEPUTIES = """
SELECT t.id, t.name FROM triggers t JOIN integrations i ON i.id = t.integration_id
WHERE i.entity_id != t.entity_id AND t.enabled = 1 AND NOT EXISTS (
    SELECT 1 FROM members m WHERE m.entity_id = i.entity_id AND m.user_id = t.created_by)
ORDER BY t.id
"""


def _disable_deputies(con: sqlite3.Connection) -> None:
    """8: an automation may use only integrations of a team its author is a member of
    (S12). Registry automations written before this rule that break it are disabled
    (kept, for their admins to see and fix, never deleted), and named in the log."""
    rows = con.execute(_DEPUTIES).fetchall()
    for trigger_id, name in rows:
        con.execute("UPDATE triggers SET enabled = 0 WHERE id = ?", (trigger_id,))
        log.warning(
            "automation disabled: its author is not a member of its integration's team",
            extra={"trigger_id": trigger_id, "automation": name},
        )


Migration = str | Callable[[sqlite3.Connection], None]

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: tuple[Migration, ...] = (
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
    _organizations,
    # 5: the automation runtime. An event, the deliveries it fired (the outbox) and
    # the per-run state of metric automations are written in the event's transaction.
    # `sealed` holds the exact body and credentials, encrypted like secrets; `shown`
    # the body with secret values masked.
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        event_key TEXT NOT NULL,
        type TEXT NOT NULL,
        document TEXT NOT NULL,
        fired TEXT NOT NULL,
        received_at TEXT NOT NULL,
        UNIQUE (entity_id, event_key)
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        entity_id INTEGER NOT NULL,
        automation TEXT NOT NULL,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        sealed BLOB NOT NULL,
        shown TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        first_at REAL,
        accepted_at REAL NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (status, endpoint, next_at);
    CREATE INDEX deliveries_automation ON deliveries (entity_id, automation, id);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
        started_at TEXT NOT NULL,
        duration REAL NOT NULL,
        status INTEGER,
        error TEXT,
        detail TEXT NOT NULL,
        excerpt TEXT NOT NULL,
        headers TEXT NOT NULL
    );
    CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
    CREATE TABLE metric_state (
        trigger_id INTEGER NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
        run_id TEXT NOT NULL,
        vals TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (trigger_id, run_id)
    );
    CREATE INDEX triggers_match ON triggers (scope_type, scope_id, event_type);
    """,
    # 6: a delivery's URL in the clear is its endpoint only (a path or query may be a
    # credential); the sealed body keeps the whole URL.
    """
    UPDATE deliveries SET url = CASE WHEN rtrim(url, '/') = endpoint THEN endpoint
        ELSE endpoint || '/***' END;
    """,
    # 7: a Slack integration's incoming-webhook URL (a credential, sealed like secrets)
    # in a column of its own, no longer in `url_endpoint` behind a `sealed:` prefix.
    """
    ALTER TABLE integrations ADD COLUMN sealed_url BLOB;
    UPDATE integrations SET sealed_url = CAST(substr(url_endpoint, 8) AS BLOB),
        url_endpoint = '' WHERE kind = 'slack' AND url_endpoint LIKE 'sealed:%';
    """,
    _disable_deputies,
    # 9: a generation every write to what a stored automation reads moves, so matching
    # may keep each scope's candidates until it moves (`runtime/matching.py`).
    _match_generation,
    # 10: runs written by the official SDK (`server/clients/`): the run, its history
    # lines, how many lines of each streamed file were taken (a retry resends the same
    # offset), and its uploaded files (each behind a signed, single-use URL).
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        exit_code INTEGER,
        history_lines INTEGER NOT NULL DEFAULT 0,
        created_by INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        heartbeat REAL NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE INDEX runs_alive ON runs (state, heartbeat);
    CREATE TABLE run_history (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        line INTEGER NOT NULL,
        row TEXT NOT NULL,
        PRIMARY KEY (run_id, line)
    );
    CREATE TABLE run_streams (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        file TEXT NOT NULL,
        lines INTEGER NOT NULL,
        PRIMARY KEY (run_id, file)
    );
    CREATE TABLE run_files (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        expires REAL NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        size INTEGER
    );
    """,
    # 11: artifact versions as the SDK logs them (`server/clients/artifacts.py`): a
    # version of its source collection (its sequence), its files (each stored behind an
    # upload row of `run_files`), its memberships (the sequence's and every registry
    # collection it is linked into, each with its own version index), the aliases of
    # each collection (one version an alias), and its tags.
    """
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        sequence_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        digest TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('PENDING', 'COMMITTED')),
        description TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        pending_aliases TEXT NOT NULL DEFAULT '[]',
        manifest_upload INTEGER REFERENCES run_files(id),
        created_by INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX artifacts_digest ON artifacts (sequence_id, digest, state);
    CREATE TABLE artifact_files (
        id INTEGER PRIMARY KEY,
        artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        md5 TEXT NOT NULL,
        upload_id INTEGER NOT NULL REFERENCES run_files(id),
        UNIQUE (artifact_id, name)
    );
    CREATE INDEX artifact_files_md5 ON artifact_files (md5);
    CREATE TABLE artifact_memberships (
        id INTEGER PRIMARY KEY,
        artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        version_index INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (collection_id, version_index),
        UNIQUE (collection_id, artifact_id)
    );
    CREATE TABLE artifact_aliases (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        PRIMARY KEY (collection_id, alias)
    );
    CREATE TABLE artifact_tags (
        artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (artifact_id, tag)
    );
    """,
    # 12: registry settings as the SDK saves them (visibility, accepted artifact types),
    # registry members (users or whole teams, each with a registry role; admins of a
    # registry so far become its admin members), and the tags of collections.
    """
    ALTER TABLE projects ADD COLUMN access TEXT NOT NULL DEFAULT 'PRIVATE'
        CHECK (access IN ('PRIVATE', 'RESTRICTED'));
    ALTER TABLE projects ADD COLUMN allow_all_types INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE projects ADD COLUMN updated_at TEXT;
    CREATE TABLE project_types (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (project_id, name)
    );
    CREATE TABLE registry_members (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        team_id INTEGER REFERENCES entities(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer', 'restricted_viewer')),
        CHECK ((user_id IS NULL) != (team_id IS NULL)),
        UNIQUE (project_id, user_id),
        UNIQUE (project_id, team_id)
    );
    CREATE INDEX registry_members_user ON registry_members (user_id);
    CREATE INDEX registry_members_team ON registry_members (team_id);
    INSERT INTO registry_members (project_id, user_id, role)
        SELECT pa.project_id, pa.user_id, 'admin' FROM project_admins pa
        JOIN projects p ON p.id = pa.project_id WHERE p.name LIKE 'wandb-registry-%';
    ALTER TABLE collections ADD COLUMN updated_at TEXT;
    CREATE TABLE collection_tags (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (collection_id, name)
    );
    """,
    # 13: the instance's admin (W&B's `User.admin`): the user `bootstrap` made on an
    # empty database (named `admin`, the first user). It administers users, teams and
    # keys through the API (`reconcile server --server URL ...`).
    """
    ALTER TABLE users ADD COLUMN instance_admin INTEGER NOT NULL DEFAULT 0;
    UPDATE users SET instance_admin = 1
        WHERE username = 'admin' AND id = (SELECT MIN(id) FROM users);
    """,
    # 14: W&B's team role `viewer` (reads the team, writes nothing): SQLite changes a
    # CHECK constraint by rebuilding the table.
    """
    CREATE TABLE members_with_viewers (
        entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
        PRIMARY KEY (entity_id, user_id)
    );
    INSERT INTO members_with_viewers (entity_id, user_id, role)
        SELECT entity_id, user_id, role FROM members;
    DROP TABLE members;
    ALTER TABLE members_with_viewers RENAME TO members;
    """,
    # 15: a run's tags (`wandb.init(tags=...)`), which `api.runs` filters test.
    """
    ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    """,
    # 16: a team's deliveries due and not yet sent, counted on every events request
    # (runtime/backlog.py): only pending rows, so the index stays the size of the backlog.
    """
    CREATE INDEX deliveries_backlog ON deliveries (entity_id, next_at)
        WHERE status = 'pending';
    """,
    # 17: a log of the rows each write to what matching reads touched, so the first
    # event after a write elsewhere reads only that (`runtime/matching.py`).
    _match_changes,
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
        self._con = self._connect()
        self._lock = threading.RLock()
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA foreign_keys=ON")
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per operation.
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=5000")
        return con

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._con.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: a consistent snapshot for the whole operation."""
        con = self._reader()
        try:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                con.execute("COMMIT")
        finally:
            self._release(con)

    def _reader(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._readers:
                return self._readers.pop()
        con = self._connect()
        con.execute("PRAGMA query_only=ON")
        return con

    def _release(self, con: sqlite3.Connection) -> None:
        with self._readers_lock:
            if not self._closed and len(self._readers) < _IDLE_READERS:
                self._readers.append(con)
                return
        con.close()

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
                _run_migration(con, MIGRATIONS[version - 1])
                con.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, now()),
                )
                log.info("database migrated", extra={"db": str(self.path), "version": version})


def _run_migration(con: sqlite3.Connection, migration: Migration) -> None:
    if callable(migration):
        migration(con)
        return
    # executescript would COMMIT our transaction; run statements one by one.
    for statement in migration.split(";"):
        if statement.strip():
            con.execute(statement)


def _make_folder(folder: Path) -> None:
    """Create the database's folder; a new one ignores itself in git, as it will hold keys."""
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        return
    (folder / ".gitignore").write_text("*\n", encoding="utf-8")
