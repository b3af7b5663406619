"""Revoking keys, members and users with `reconcile server ...` while the server runs (S11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from reconcile.apply.target import embedded_key
from reconcile.server.admin import tasks as admin
from reconcile.server.admin.commands import serve, server
from reconcile.server.api import auth
from reconcile.server.store.db import Database
from tests.server.helpers import CREATE_TRIGGER, World, trigger_input
from tests.server.live import announced

VIEWER = "{ viewer { username } }"
ACME = '{ entity(name: "acme") { name } }'


def _cli(db: Path, *args: str, code: int = 0) -> str:
    group = click.Group("reconcile")
    group.add_command(serve)
    group.add_command(server)
    result = CliRunner().invoke(group, ["server", "--db", str(db), *args])
    assert result.exit_code == code, result.output
    # A key alone on stdout (where it was made goes to stderr); errors are on stderr.
    return (result.stdout if code == 0 else result.output).strip()


def _key_ids(db: Path, username: str) -> list[int]:
    return [int(line.split("\t")[0]) for line in _cli(db, "list-keys", username).splitlines()]


def test_list_keys_shows_no_key_material(live_world: World) -> None:
    db = live_world.db.path
    second = _cli(db, "create-key", "mia", "--description", "laptop")
    listed = _cli(db, "list-keys")
    rows = [line.split("\t") for line in listed.splitlines()]
    assert [(r[0], r[1], r[3] if len(r) > 3 else "") for r in rows] == [
        ("1", "admin", "bootstrap"),
        ("2", "mia", ""),
        ("3", "pat", ""),
        ("4", "reg", ""),
        ("5", "olga", ""),
        ("6", "mia", "laptop"),
    ]
    for key in (second, live_world.member.key, live_world.admin.key):
        assert key not in listed
        assert key[-20:] not in listed
        assert auth.hash_key(key) not in listed
    assert _cli(db, "list-keys", "mia").count("\n") == 1


def test_a_deleted_key_is_refused_at_once(live_world: World) -> None:
    db = live_world.db.path
    spare = _cli(db, "create-key", "mia")
    assert live_world.member.ok(VIEWER) == {"viewer": {"username": "mia"}}
    first, second = _key_ids(db, "mia")
    assert _cli(db, "delete-key", str(first)) == (
        f"key {first} of mia revoked in the database {db}"
    )
    refused = live_world.member.post(VIEWER)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"] == "invalid API key"
    assert live_world.api(spare).ok(VIEWER) == {"viewer": {"username": "mia"}}
    assert _key_ids(db, "mia") == [second]
    missing = _cli(db, "delete-key", str(first), code=1)
    assert missing == f"Error: no API key with id {first}"


def test_a_removed_member_loses_the_team_and_its_projects(live_world: World) -> None:
    db = live_world.db.path
    assert live_world.project_admin.ok(CREATE_TRIGGER, trigger_input(live_world.project_id))
    assert _cli(db, "remove-member", "acme", "pat") == (
        f"user pat removed from acme in the database {db}"
    )
    assert live_world.project_admin.ok(ACME) == {"entity": None}
    hidden = trigger_input(live_world.project_id, name="again")
    assert live_world.project_admin.fails(CREATE_TRIGGER, hidden) == (
        "NOT_FOUND: project not found"
    )
    # Back as a member, pat no longer administers the project.
    _cli(db, "set-role", "acme", "pat", "member")
    assert live_world.project_admin.fails(CREATE_TRIGGER, hidden) == (
        "FORBIDDEN: permission denied: only admins of project vision or of team acme "
        "can manage its automations"
    )
    assert _cli(db, "remove-member", "acme", "olga", code=1) == (
        "Error: user 'olga' is not a member of acme"
    )


def test_a_deleted_user_has_no_key_left(live_world: World) -> None:
    db = live_world.db.path
    spare = _cli(db, "create-key", "mia")
    assert _cli(db, "delete-user", "mia") == (
        f"user mia deleted (2 API key(s) revoked) in the database {db}"
    )
    for key in (live_world.member.key, spare):
        assert live_world.api(key).post(VIEWER).status_code == 401
    assert "mia" not in _cli(db, "list-keys")
    assert live_world.admin.ok('{ entity(name: "acme") { members { username } } }') == {
        "entity": {"members": [{"username": u} for u in ("admin", "pat", "reg")]}
    }


SERVE = "from reconcile.server.admin.commands import serve; serve()"


def _serve(db: Path, port: int, env_key: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", SERVE, "--db", str(db), "--port", str(port), "--team", "acme"]
    env = {**os.environ, admin.ADMIN_KEY_ENV: env_key}
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _viewer(url: str, key: str, proc: subprocess.Popen[str]) -> int:
    for _ in range(200):
        assert proc.poll() is None, proc.communicate()
        try:
            response = httpx.post(
                f"{url}/graphql",
                json={"query": VIEWER},
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
        except httpx.TransportError:
            time.sleep(0.1)  # not listening yet
            continue
        return response.status_code
    raise AssertionError("the server did not answer")


def test_a_revoked_admin_key_stays_revoked_across_restarts(tmp_path: Path) -> None:
    db, key = tmp_path / "server.db", "local-" + "r" * 40
    proc = _serve(db, 0, key)
    try:
        url, _ = announced(proc)
        assert _viewer(url, key, proc) == 200
        (key_id,) = _key_ids(db, "admin")
        _cli(db, "delete-key", str(key_id))
        assert _viewer(url, key, proc) == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    # The same RECONCILE_ADMIN_KEY at the next start does not bring it back.
    again = _serve(db, 0, key)
    out, err = again.communicate(timeout=30)
    assert again.returncode == 1
    assert "Error: RECONCILE_ADMIN_KEY holds a revoked key" in err
    assert key not in out + err
    assert _cli(db, "list-keys") == ""


def test_the_embedded_servers_own_key_is_replaced_once_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan and apply run the server in-process with the key kept beside the database."""
    monkeypatch.delenv(admin.ADMIN_KEY_ENV, raising=False)
    db_path = tmp_path / "server.db"
    first = embedded_key(db_path)
    (key_id,) = _key_ids(db_path, "admin")
    _cli(db_path, "delete-key", str(key_id))
    second = embedded_key(db_path)
    assert second != first
    assert (db_path.parent / "server.db.admin-key").read_text() == second + "\n"
    db = Database(db_path)
    try:
        assert (admin.key_is_active(db, first), admin.key_is_active(db, second)) == (False, True)
    finally:
        db.close()
