"""API keys: W&B's format, stored hashed, read from Basic or Bearer headers."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from reconcile.server.admin import tasks as admin
from reconcile.server.api import auth
from reconcile.server.errors import Unauthenticated
from reconcile.server.store.db import Database


def test_generated_keys_have_the_sdk_format_and_differ() -> None:
    keys = {auth.generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("local-")
        assert len(key) == len("local-") + 40
        assert auth.KEY_RE.match(key)


def test_keys_are_stored_only_as_hashes(db_path: Path) -> None:
    db = Database(db_path)
    boot = admin.bootstrap(db, team="acme")
    assert boot.api_key
    with db.read() as con:
        stored = [row[0] for row in con.execute("SELECT key_hash FROM api_keys")]
        assert auth.authenticate(con, f"Bearer {boot.api_key}").username == "admin"
    assert stored == [auth.hash_key(boot.api_key)]
    assert boot.api_key.encode() not in db_path.read_bytes()
    db.close()


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "authentication required: send an API key"),
        ("", "authentication required: send an API key"),
        ("Basic !!!", "malformed Basic authorization header"),
        ("Token abc", "unsupported authorization scheme: use Basic or Bearer"),
        ("Bearer short", "invalid API key"),
        (_basic("api:local-" + "a" * 39), "invalid API key"),
        # The password is everything after the first colon (RFC 7617), colons and all.
        (_basic("api:x:local-" + "a" * 40), "invalid API key"),
    ],
)
def test_bad_headers_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        auth.key_from_header(header)
    assert refused.value.message == message


def test_an_unknown_key_is_refused(db_path: Path) -> None:
    db = Database(db_path)
    admin.bootstrap(db, team="acme")
    with db.read() as con, pytest.raises(Unauthenticated) as refused:
        auth.authenticate(con, f"Bearer {auth.generate_key()}")
    assert refused.value.message == "invalid API key"
    db.close()


def test_basic_and_bearer_carry_the_same_key() -> None:
    key = auth.generate_key()
    basic = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
    assert auth.key_from_header(basic) == auth.key_from_header(f"Bearer {key}") == key
    # The scheme's case and the spaces around the key do not matter.
    assert auth.key_from_header(f" bearer   {key} ") == key
    assert auth.key_from_header(basic.replace("Basic ", "BASIC  ")) == key
