"""The SQLite store: migrations, WAL, transactions, parameterised names."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconcile.server.errors import Conflict
from reconcile.server.store import automations as hooks
from reconcile.server.store import db as db_module
from reconcile.server.store import teams
from reconcile.server.store.db import MIGRATIONS, Database


def test_new_database_is_migrated_once_and_uses_wal(db_path: Path) -> None:
    db = Database(db_path)
    assert db.version() == len(MIGRATIONS)
    db.close()
    reopened = Database(db_path)  # a second open must not re-apply migrations
    with reopened.read() as con:
        rows = con.execute("SELECT version FROM schema_version").fetchall()
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert mode == "wal"
    reopened.close()


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    Database(db_path).close()
    with sqlite3.connect(db_path) as con:
        con.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(RuntimeError, match="schema version 99, newer than this program knows"):
        Database(db_path)


def test_a_failed_operation_leaves_nothing_behind(db_path: Path) -> None:
    db = Database(db_path)

    def create_twice() -> None:
        with db.write() as con:
            teams.create_team(con, "acme")
            teams.create_team(con, "acme")

    with pytest.raises(Conflict):
        create_twice()
    with db.read() as con:
        assert teams.find_team(con, "acme") is None
    db.close()


def test_names_are_data_not_sql(db_path: Path) -> None:
    db = Database(db_path)
    hostile = "x'); DROP TABLE entities; --"
    with db.write() as con:
        team = teams.create_team(con, "acme")
        project, inserted = teams.create_project(con, team, hostile)
        again, inserted_again = teams.create_project(con, team, hostile)
    with db.read() as con:
        assert teams.find_project(con, "acme", hostile) == project
    assert (inserted, inserted_again, again.id) == (True, False, project.id)
    db.close()


def test_roles_and_membership(db_path: Path) -> None:
    db = Database(db_path)
    with db.write() as con:
        team = teams.create_team(con, "acme")
        user = teams.create_user(con, "mia")
        teams.set_member(con, team.id, user.id, "member")
        teams.set_member(con, team.id, user.id, "admin")
        with pytest.raises(ValueError, match="role must be one of admin, member, viewer"):
            teams.set_member(con, team.id, user.id, "owner")
    with db.read() as con:
        assert teams.member_role(con, team.id, user.id) == "admin"
        assert [t.name for t in teams.teams_of(con, user.id)] == ["acme"]
    db.close()


@contextmanager
def _written_at_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> Iterator[sqlite3.Connection]:
    """A write transaction on a database migrated only up to `version`; then closed."""
    with monkeypatch.context() as old:
        old.setattr(db_module, "MIGRATIONS", MIGRATIONS[:version])
        first = Database(db_path)
        with first.write() as con:
            con.execute("INSERT INTO entities (name, created_at) VALUES ('acme', 'x')")
            yield con
        first.close()


def test_migration_6_keeps_only_the_endpoint_of_stored_delivery_urls(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _written_at_version(db_path, monkeypatch, 5) as con:
        con.execute(
            "INSERT INTO events (entity_id, event_key, type, document, fired, received_at) "
            "VALUES (1, 'e', 'alias_added', '{}', '[]', 'x')"
        )
        for url in ("https://hooks.example.com/services/T0/B0/secret", "https://a.example"):
            con.execute(
                "INSERT INTO deliveries (event_id, entity_id, automation, kind, url, "
                "endpoint, webhook_id, sealed, shown, status, next_at, accepted_at, "
                "created_at) VALUES (1, 1, 'a', 'webhook', ?, ?, 'msg', x'00', '{}', "
                "'delivered', 0, 0, 'x')",
                (url, url.split("/services")[0]),
            )
    upgraded = Database(db_path)
    with upgraded.read() as con:
        urls = [r[0] for r in con.execute("SELECT url FROM deliveries ORDER BY id")]
    upgraded.close()
    assert urls == ["https://hooks.example.com/***", "https://a.example"]


def test_migration_7_moves_a_sealed_slack_url_to_its_own_column(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _written_at_version(db_path, monkeypatch, 6) as con:
        for channel, url in (("#a", "sealed:gAAAAB-token"), ("#b", "")):
            con.execute(
                "INSERT INTO integrations (entity_id, kind, name, url_endpoint, slack_team, "
                "channel_name, created_at) VALUES (1, 'slack', ?, ?, 'T', ?, 'x')",
                (f"slack:{channel}", url, channel),
            )
    upgraded = Database(db_path)
    with upgraded.read() as con:
        rows = con.execute("SELECT id, url_endpoint FROM integrations ORDER BY id").fetchall()
        sealed = [hooks.slack_url_sealed(con, row["id"]) for row in rows]
    upgraded.close()
    assert [row["url_endpoint"] for row in rows] == ["", ""]
    assert sealed == [b"gAAAAB-token", None]


def test_migration_8_disables_registry_automations_calling_a_team_their_author_is_not_in(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S12 for databases written before the rule: `reg` (in acme only) made registry
    automations on acme's and on beta's webhooks; the one on beta's is disabled."""
    with _written_at_version(db_path, monkeypatch, 7) as con:
        con.execute("INSERT INTO entities (name, created_at) VALUES ('beta', 'x')")
        con.execute("INSERT INTO entities (name, created_at) VALUES ('acme-org', 'x')")
        con.execute("INSERT INTO users (username, created_at) VALUES ('reg', 'x')")
        con.execute("INSERT INTO members (entity_id, user_id, role) VALUES (1, 1, 'member')")
        for team, name in ((1, "ours"), (2, "theirs")):
            con.execute(
                "INSERT INTO integrations (entity_id, name, url_endpoint, created_at) "
                "VALUES (?, ?, 'https://h.example/', 'x')",
                (team, name),
            )
        made = [("on-ours", 3, 1), ("on-theirs", 3, 2), ("team-own", 2, 2)]
        for name, owner, integration in made:
            con.execute(
                "INSERT INTO triggers (entity_id, name, enabled, scope_type, scope_id, "
                "event_type, event_filter, action_type, integration_id, action_config, "
                "created_by, created_at, updated_at) VALUES (?, ?, 1, 'PROJECT', 1, "
                "'LINK_MODEL', '{}', 'GENERIC_WEBHOOK', ?, '{}', 1, 'x', 'x')",
                (owner, name, integration),
            )
    upgraded = Database(db_path)
    with upgraded.read() as con:
        rows = con.execute("SELECT name, enabled FROM triggers ORDER BY id").fetchall()
    upgraded.close()
    # `team-own` calls its own team's webhook: a team's automations are its admins' to make.
    assert [tuple(row) for row in rows] == [("on-ours", 1), ("on-theirs", 0), ("team-own", 1)]


def test_the_registry_settings_migration_makes_registry_admins_admin_members(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registries written before registry settings: each is an `organization` registry
    that accepts every type, and its admins so far are its admin members."""
    with _written_at_version(db_path, monkeypatch, 10) as con:
        con.execute("INSERT INTO users (username, created_at) VALUES ('reg', 'x')")
        for name in ("wandb-registry-model", "vision"):
            con.execute(
                "INSERT INTO projects (entity_id, name, created_at) VALUES (1, ?, 'x')", (name,)
            )
            con.execute(
                "INSERT INTO project_admins (project_id, user_id) "
                "SELECT id, 1 FROM projects WHERE name = ?",
                (name,),
            )
    upgraded = Database(db_path)
    with upgraded.read() as con:
        members = con.execute(
            "SELECT project_id, user_id, team_id, role FROM registry_members"
        ).fetchall()
        settings = con.execute(
            "SELECT name, access, allow_all_types FROM projects ORDER BY id"
        ).fetchall()
    upgraded.close()
    assert [tuple(row) for row in members] == [(1, 1, None, "admin")]
    assert [tuple(row) for row in settings] == [
        ("wandb-registry-model", "PRIVATE", 1),
        ("vision", "PRIVATE", 1),
    ]


@pytest.mark.parametrize(
    ("usernames", "admins"),
    [(("admin", "mia"), ["admin"]), (("mia", "admin"), []), (("mia",), [])],
)
def test_migration_13_makes_the_user_bootstrap_made_the_instance_admin(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, usernames: tuple[str, ...], admins: list[str]
) -> None:
    with _written_at_version(db_path, monkeypatch, 10) as con:
        for name in usernames:  # bootstrap makes `admin` on an empty database only
            con.execute("INSERT INTO users (username, created_at) VALUES (?, 'x')", (name,))
    upgraded = Database(db_path)
    with upgraded.read() as con:
        found = [r[0] for r in con.execute("SELECT username FROM users WHERE instance_admin = 1")]
    upgraded.close()
    assert found == admins


def test_match_changes_log_each_written_row_and_keep_the_last_ones(db_path: Path) -> None:
    db = Database(db_path)
    with db.write() as con:
        con.execute("INSERT INTO entities (name, created_at) VALUES ('acme', 'x')")
        for number in range(db_module.MATCH_CHANGES_KEPT + 5):
            con.execute(
                "INSERT INTO projects (entity_id, name, created_at) VALUES (1, ?, 'x')",
                (f"p{number}",),
            )
        con.execute("UPDATE projects SET id = 100000 WHERE name = 'p0'")
        con.execute("DELETE FROM projects WHERE name = 'p1'")
        con.execute("UPDATE entities SET name = 'acme'")
    with db.read() as con:
        rows = con.execute("SELECT tbl, row_id FROM match_changes ORDER BY seq").fetchall()
        generation = con.execute("SELECT n FROM match_generation").fetchone()[0]
    db.close()
    assert len(rows) == db_module.MATCH_CHANGES_KEPT
    assert [tuple(row) for row in rows[-5:]] == [
        ("projects", db_module.MATCH_CHANGES_KEPT + 5),
        ("projects", 1),
        ("projects", 100000),
        ("projects", 2),
        ("*", 1),
    ]
    assert generation == 0  # migration 9's triggers are gone
