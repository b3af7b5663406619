"""Encryption at rest for secret values, with the key kept outside the database.

The key comes from `RECONCILE_SECRET_KEY` (a Fernet key) or a 0600 file next to the
database (`<db>.key`), created on first use.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

KEY_ENV = "RECONCILE_SECRET_KEY"


def key_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def load_or_create_key(db_path: Path) -> bytes:
    """The secret-encryption key: from the environment, else from (or into) the key file."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = key_path_for(db_path)
    try:
        # O_EXCL: never overwrite a key that encrypts existing secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    log.info("secret key created", extra={"path": str(path)})
    return key


class SecretBox:
    """Encrypts and decrypts secret values; holds the only copy of the key in memory."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def open(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()
