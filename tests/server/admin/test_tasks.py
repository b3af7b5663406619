"""The Python admin API: bootstrap, users, keys, projects, registries, collections."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from reconcile.server.admin import tasks as admin
from reconcile.server.api import auth
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import crypto
from reconcile.server.store.db import Database


def test_bootstrap_creates_once_and_adopts_a_given_key(db_path: Path) -> None:
    db = Database(db_path)
    given = "local-" + "k" * 40
    first = admin.bootstrap(db, team="acme", key=given)
    second = admin.bootstrap(db, team="acme")
    assert (first.api_key, second.api_key) == (given, None)
    other = "local-" + "z" * 40
    admin.bootstrap(db, team="acme", key=other)  # a new RECONCILE_ADMIN_KEY is added
    with db.read() as con:
        assert auth.authenticate(con, f"Bearer {other}").username == "admin"
        assert con.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
    with pytest.raises(InvalidInput, match="not a valid API key"):
        admin.bootstrap(db, key="too-short")
    db.close()


def test_ensure_functions_are_idempotent(db_path: Path) -> None:
    db = Database(db_path)
    admin.bootstrap(db, team="acme")
    first = admin.ensure_registry(db, "acme", "models")
    again = admin.ensure_registry(db, "acme", "wandb-registry-models")
    assert first == again
    assert first.is_registry
    made = admin.ensure_collection(db, "acme", first.name, "prod", "model")
    assert admin.ensure_collection(db, "acme", first.name, "prod", "model") == made
    with pytest.raises(NotFound, match="project acme/nope not found"):
        admin.ensure_collection(db, "acme", "nope", "prod")
    with pytest.raises(InvalidInput, match="invalid project name"):
        admin.ensure_project(db, "acme", "a/b")
    db.close()


def test_secret_key_file_is_private_and_stable(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    key = crypto.load_or_create_key(db_path)
    path = crypto.key_path_for(db_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_or_create_key(db_path) == key
    box = crypto.SecretBox(key)
    assert box.open(box.seal("value")) == "value"
    monkeypatch.setenv(crypto.KEY_ENV, Fernet.generate_key().decode())
    assert crypto.load_or_create_key(db_path) != key


def test_written_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "admin-key"
    admin.write_key_file(path, "local-" + "a" * 40)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "local-" + "a" * 40 + "\n"
