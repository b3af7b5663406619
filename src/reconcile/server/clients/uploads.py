"""Upload URLs for a run's files: the SDK's PUTs carry no Authorization header, so each
URL carries an HMAC-signed, expiring token bound to its one file row; bodies stream to
`<db>.files/` (0600), capped at MAX_UPLOAD_BYTES, and a URL works once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import time
from pathlib import Path

from reconcile.server.clients import runs

MAX_UPLOAD_BYTES = 1024**3  # 1 GiB a file: documented in the README ("Real W&B clients")
URL_LIFETIME = 24 * 3600.0  # seconds an upload URL stays valid


class Refused(Exception):
    """An upload URL that is not signed by this server, expired, or already used."""


def files_folder(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".files")


class Signer:
    """Signs and checks upload tokens with a key derived from the server's secret key."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"reconcile upload urls\0" + secret).digest()

    def sign(self, file_id: int, expires: int) -> str:
        message = f"{file_id}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, file_id: str, expires: str, signature: str) -> int:
        """The file row a URL names, if its signature holds and it has not expired
        (no database, no body: this runs first)."""
        if not (file_id.isdigit() and expires.isdigit()) or len(file_id) > 18:
            raise Refused("malformed upload URL")
        if not hmac.compare_digest(self.sign(int(file_id), int(expires)), signature):
            raise Refused("upload URL not signed by this server")
        if int(expires) < time.time():
            raise Refused("upload URL expired")
        return int(file_id)


def create(
    con: sqlite3.Connection, signer: Signer, base_url: str, run: runs.Run, names: list[str]
) -> list[tuple[str, str]]:
    """One signed URL for each file name of the run."""
    return [(name, create_one(con, signer, base_url, run.id, name)[1]) for name in names]


def create_one(
    con: sqlite3.Connection, signer: Signer, base_url: str, run_id: int, name: str
) -> tuple[int, str]:
    """The upload row of one file of the run, and its signed URL."""
    expires = int(time.time() + URL_LIFETIME)
    cur = con.execute(
        "INSERT INTO run_files (run_id, name, expires) VALUES (?, ?, ?)", (run_id, name, expires)
    )
    file_id = int(cur.lastrowid or 0)
    signature = signer.sign(file_id, expires)
    return file_id, f"{base_url}/files/uploads/{file_id}?expires={expires}&signature={signature}"


def download_url(signer: Signer, base_url: str, file_id: int) -> str:
    """A signed, expiring URL to read a stored upload (the SDK's GETs carry no key).
    Its signature differs from the upload URL's: one cannot stand for the other."""
    expires = int(time.time() + URL_LIFETIME)
    signature = signer.sign(-file_id, expires)
    return f"{base_url}/files/downloads/{file_id}?expires={expires}&signature={signature}"


def check_download(signer: Signer, file_id: str, expires: str, signature: str) -> int:
    """The upload row a download URL names, if signed by this server and not expired."""
    if not (file_id.isdigit() and expires.isdigit()) or len(file_id) > 18:
        raise Refused("malformed download URL")
    if not hmac.compare_digest(signer.sign(-int(file_id), int(expires)), signature):
        raise Refused("download URL not signed by this server")
    if int(expires) < time.time():
        raise Refused("download URL expired")
    return int(file_id)


def stored(con: sqlite3.Connection, file_id: int) -> bool:
    row = con.execute("SELECT used FROM run_files WHERE id = ?", (file_id,)).fetchone()
    return row is not None and row["used"] == 1


def size_of(con: sqlite3.Connection, file_id: int) -> int:
    row = con.execute("SELECT size FROM run_files WHERE id = ?", (file_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def open_target(folder: Path, file_id: int) -> tuple[int, Path]:
    """A fresh 0600 file to stream an upload into (renamed into place when complete)."""
    partial = folder / f"{file_id}.part-{os.getpid()}-{time.monotonic_ns()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(partial, flags, 0o600), partial
    except FileNotFoundError:  # the first upload: the folder is made once, not per file
        folder.mkdir(mode=0o700, exist_ok=True)
        return os.open(partial, flags, 0o600), partial


def unused(con: sqlite3.Connection, file_id: int) -> bool:
    row = con.execute("SELECT used FROM run_files WHERE id = ?", (file_id,)).fetchone()
    return row is not None and row["used"] == 0


def finish(con: sqlite3.Connection, file_id: int, size: int) -> bool:
    """Mark the URL used; False when another upload to it completed first."""
    cur = con.execute(
        "UPDATE run_files SET used = 1, size = ? WHERE id = ? AND used = 0", (size, file_id)
    )
    return cur.rowcount == 1
