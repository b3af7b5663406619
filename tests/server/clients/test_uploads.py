"""Upload URLs: signed, expiring, single-use, checked before the body is read; bodies
land 0600 beside the database; the size cap holds."""

from __future__ import annotations

import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reconcile.server.clients import uploads
from reconcile.server.store.crypto import load_or_create_key
from tests.server.clients.test_stream import _upsert
from tests.server.helpers import TEAM, World

FILES = """
mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run,
                         files: $files}) {
    runID uploadHeaders files { name uploadUrl }
  }
}
"""


def _urls(world: World, *names: str) -> dict[str, str]:
    _upsert(world.member)
    variables = {"entity": TEAM, "project": "vision", "run": "r1", "files": list(names)}
    made = world.member.ok(FILES, variables)["createRunFiles"]
    assert made["uploadHeaders"] == []
    return {f["name"]: f["uploadUrl"] for f in made["files"]}


def _put(world: World, url: str, body: bytes) -> int:
    parts = urlsplit(url)
    return world.client.request("PUT", f"{parts.path}?{parts.query}", content=body).status_code


def test_an_upload_lands_0600_and_its_url_works_once(world: World, db_path: Path) -> None:
    url = _urls(world, "config.yaml")["config.yaml"]
    assert url.startswith("http://server/files/uploads/")
    assert _put(world, url, b"lr: 1\n") == 200
    assert _put(world, url, b"lr: 2\n") == 403
    stored = uploads.files_folder(db_path) / url.split("/")[-1].split("?")[0]
    assert stored.read_bytes() == b"lr: 1\n"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "query",
    [
        "",
        "expires=99999999999&signature=00",
        "expires=abc&signature=00",
    ],
)
def test_unsigned_urls_are_403(world: World, query: str) -> None:
    _urls(world, "a.txt")
    assert world.client.request("PUT", f"/files/uploads/1?{query}", content=b"x").status_code == 403


def test_a_url_for_another_file_or_expired_is_403(world: World, db_path: Path) -> None:
    url = _urls(world, "a.txt", "b.txt")["a.txt"]
    other = url.replace("/files/uploads/1?", "/files/uploads/2?")
    assert _put(world, other, b"x") == 403
    signer = uploads.Signer(load_or_create_key(db_path))
    past = int(time.time()) - 1
    expired = f"/files/uploads/1?expires={past}&signature={signer.sign(1, past)}"
    assert world.client.request("PUT", expired, content=b"x").status_code == 403
    assert _put(world, url, b"x") == 200


def test_the_size_cap(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 4)
    urls = _urls(world, "big")
    assert _put(world, urls["big"], b"12345") == 413
    assert _put(world, urls["big"], b"1234") == 200


def test_files_of_a_run_of_another_team_are_refused(world: World) -> None:
    _upsert(world.member)
    variables = {"entity": TEAM, "project": "vision", "run": "r1", "files": ["a"]}
    assert world.outsider.fails(FILES, variables) == "NOT_FOUND: entity 'acme' not found"
    missing = {**variables, "run": "nope"}
    assert world.member.fails(FILES, missing) == ("NOT_FOUND: run nope not found in acme/vision")


def test_a_body_of_many_chunks_lands_whole(world: World, db_path: Path) -> None:
    """A body larger than the pieces it is written in (1 MiB), in uneven chunks."""
    url = _urls(world, "weights.bin")["weights.bin"]
    body = bytes(range(256)) * (10 * 1024 + 3)  # 2.5 MiB and 768 bytes
    chunks = [body[start : start + 300_001] for start in range(0, len(body), 300_001)]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    parts = urlsplit(url)
    answer = world.client.request("PUT", f"{parts.path}?{parts.query}", content=stream())
    assert answer.status_code == 200
    folder = uploads.files_folder(db_path)
    stored = folder / parts.path.split("/")[-1]
    assert stored.read_bytes() == body
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [stored.name]  # no partial left


def test_an_empty_body_is_an_empty_file(world: World, db_path: Path) -> None:
    url = _urls(world, "empty")["empty"]
    assert _put(world, url, b"") == 200
    assert (uploads.files_folder(db_path) / url.split("/")[-1].split("?")[0]).read_bytes() == b""
    assert _put(world, url, b"") == 403
