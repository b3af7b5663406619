"""Artifact versions logged as wandb-core logs them: committed as `vN` with their aliases
(`latest` moving), de-duplicated by digest, files stored and read back byte for byte
behind signed URLs; `artifact_created` once per version; no cross-team reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.clients.artifact_support import (
    COMMIT,
    CREATE,
    FILES,
    MANIFEST,
    create_input,
    get,
    log,
    membership,
)
from tests.server.clients.test_stream import _upsert
from tests.server.helpers import World

V0 = {"weights.bin": b"\x00\x01" * 50, "config.json": b'{"lr": 1}'}
V1 = {"weights.bin": b"\x02" * 10}


def _events(world: World) -> list[tuple[str, dict[str, Any]]]:
    with world.db.read() as con:
        rows = con.execute("SELECT type, document FROM events ORDER BY id").fetchall()
    return [(r[0], json.loads(r[1])) for r in rows]


def test_a_logged_version_reads_back_with_its_files(world: World) -> None:
    art, state = log(world, world.member, V0, aliases=("best",))
    assert state == "PENDING"
    found = membership(world.member, "detector:v0")
    assert found["versionIndex"] == 0
    assert sorted(a["alias"] for a in found["aliases"]) == ["best", "latest"]
    version = found["artifact"]
    assert (version["id"], version["state"], version["versionIndex"]) == (art, "COMMITTED", 0)
    assert (version["size"], version["fileCount"]) == (109, 2)
    assert json.loads(version["metadata"]) == {"acc": 0.9}
    files = {e["node"]["name"]: e["node"]["directUrl"] for e in version["files"]["edges"]}
    assert {name: get(world, url) for name, url in files.items()} == {
        name: (200, body) for name, body in V0.items()
    }
    manifest = get(world, version["currentManifest"]["file"]["directUrl"])
    assert manifest == (200, b'{"contents": ["config.json", "weights.bin"]}')


def test_commit_emits_artifact_created_once_and_latest_fires_nothing(world: World) -> None:
    art, _ = log(world, world.member, V0, aliases=("best",))
    world.member.ok(COMMIT, {"artifactID": art})  # a retried commit
    kinds = [
        (kind, doc.get("alias"), doc["artifact"]["version"])
        for kind, doc in _events(world)
        if kind != "run_state"
    ]
    assert kinds == [("artifact_created", None, 0), ("alias_added", "best", 0)]
    created = _events(world)[-2][1]
    assert (created["entity"], created["project"], created["collection"]) == (
        "acme",
        "vision",
        "detector",
    )
    assert created["artifact"] == {"type": "model", "version": 0, "metadata": {"acc": 0.9}}


def test_the_same_content_again_is_the_same_version(world: World) -> None:
    first, _ = log(world, world.member, V0)
    again, state = log(world, world.member, V0)
    assert (again, state) == (first, "COMMITTED")
    assert membership(world.member, "detector:v1") is None
    assert [k for k, _ in _events(world)].count("artifact_created") == 1


def test_a_new_version_takes_latest_off_the_old(world: World) -> None:
    log(world, world.member, V0)
    log(world, world.member, V1)
    assert [a["alias"] for a in membership(world.member, "detector:v0")["aliases"]] == []
    assert [a["alias"] for a in membership(world.member, "detector:latest")["aliases"]] == [
        "latest"
    ]
    assert membership(world.member, "detector:latest")["versionIndex"] == 1
    # A file already stored for the team is not uploaded again.
    _upsert(world.member)
    made = world.member.ok(CREATE, {"input": create_input({"x": b"\x02" * 10})})
    art = made["createArtifact"]["artifact"]["id"]
    spec = {"artifactID": art, "name": "x", "md5": "ad5a1b8b1c1f8e1d6d6e0b7ee4c6d5b5"}
    fresh = world.member.ok(FILES, {"artifactFiles": [spec]})["createArtifactFiles"]
    assert fresh["files"]["edges"][0]["node"]["uploadUrl"] is not None


def test_no_cross_team_reads(world: World) -> None:
    art, _ = log(world, world.member, V0)
    query = "query ($id: ID!) { artifact(id: $id) { id } }"
    assert world.outsider.ok(query, {"id": art}) == {"artifact": None}
    assert membership(world.outsider, "detector:v0") is None
    version = membership(world.member, "detector:v0")["artifact"]
    url = version["files"]["edges"][0]["node"]["directUrl"]
    forged = url.replace("signature=", "signature=0")
    assert get(world, forged)[0] == 403
    # An upload URL is not a download URL, nor the other way round.
    assert get(world, url.replace("/downloads/", "/uploads/"))[0] == 405
    assert world.outsider.fails(COMMIT, {"artifactID": art}) == "NOT_FOUND: artifact not found"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"artifactCollectionName": "a/b"}, "BAD_USER_INPUT: invalid artifact collection name"),
        ({"artifactTypeName": ""}, "BAD_USER_INPUT: invalid artifact type name"),
        ({"digest": ""}, "BAD_USER_INPUT: digest: required"),
        ({"digest": "d" * 129}, "BAD_USER_INPUT: digest: required"),
        ({"metadata": "[1]"}, "BAD_USER_INPUT: metadata"),
        ({"metadata": "{"}, "BAD_USER_INPUT: metadata"),
        ({"aliases": [{"alias": "a:b", "artifactCollectionName": "detector"}]}, "BAD_USER_INPUT"),
        (
            {"aliases": [{"alias": "x" * 129, "artifactCollectionName": "detector"}]},
            "BAD_USER_INPUT",
        ),
        ({"aliases": [{"alias": "a", "artifactCollectionName": "other"}]}, "BAD_USER_INPUT"),
        ({"runName": "nope"}, "NOT_FOUND: run nope"),
        ({"projectName": "wandb-registry-models"}, "FORBIDDEN"),
        ({"artifactTypeName": "dataset"}, "BAD_USER_INPUT: artifact detector is of type"),
    ],
)
def test_bad_create_input_is_refused(world: World, change: dict[str, Any], message: str) -> None:
    log(world, world.member, V0)
    answer = world.member.fails(CREATE, {"input": {**create_input(V1), **change}})
    assert answer.startswith(message), answer


def test_int64_takes_whole_numbers_only(world: World) -> None:
    _upsert(world.member)
    for value in (1.5, "7", True, 2**63):
        answer = world.member.fails(
            CREATE, {"input": {**create_input(V1), "historyStep": value}}, 400
        )
        assert answer.startswith("BAD_USER_INPUT: Variable '$input' got an invalid value"), answer


def test_bad_files_and_early_commits_are_refused(world: World) -> None:
    _upsert(world.member)
    art = world.member.ok(CREATE, {"input": create_input(V1)})["createArtifact"]["artifact"]["id"]
    many = [{"artifactID": art, "name": f"f{n}", "md5": "m"} for n in range(1001)]
    assert world.member.fails(FILES, {"artifactFiles": many}).startswith("BAD_USER_INPUT: artifact")
    nameless = [{"artifactID": art, "name": "", "md5": "m"}]
    assert world.member.fails(FILES, {"artifactFiles": nameless}).startswith("BAD_USER_INPUT")
    assert world.member.fails(COMMIT, {"artifactID": art}) == (
        "BAD_USER_INPUT: artifact detector: its manifest was not uploaded"
    )
    world.member.ok(MANIFEST, {"artifactID": art, "digest": "d", "run": "r1"})
    assert world.member.fails(COMMIT, {"artifactID": "QXJ0aWZhY3Q6OTk5"}).startswith("NOT_FOUND")
    assert world.member.fails(COMMIT, {"artifactID": "bm9wZQ=="}).startswith("BAD_USER_INPUT")
