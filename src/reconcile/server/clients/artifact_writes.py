"""The SDK's writes to artifact versions: `CreateArtifact` (de-duplicated by digest),
`CreateArtifactManifest`, `CreateArtifactFiles` (a file already stored in the team is
not uploaded again) and `CommitArtifact`, with their access rules and events.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reconcile.server.api import validation
from reconcile.server.api.ids import decode_id
from reconcile.server.clients import artifact_events, artifacts, runs, uploads
from reconcile.server.clients.artifacts import LATEST, Artifact
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.runtime import outbox
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox

NAME_RULE = "letters, digits, '-', '_' and '.', 1 to 128 characters"
MAX_FILES = 1000  # files a CreateArtifactFiles request
MAX_DIGEST = 128
MAX_FILE_NAME = 1024


@dataclass(frozen=True)
class Writer:
    """Who writes and what a write needs beside the transaction."""

    con: sqlite3.Connection
    box: SecretBox
    user: teams.User


def readable(con: sqlite3.Connection, user: teams.User, artifact_id: int) -> Artifact:
    """The version, when the user is a member of the team that logged it (to anyone else
    it does not exist, as in W&B)."""
    art = artifacts.get(con, artifact_id)
    if teams.member_role(con, art.sequence.project.entity_id, user.id) is None:
        raise NotFound(artifacts.MISSING)
    return art


def _text(given: dict[str, Any], key: str, limit: int) -> str:
    value = given.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{key}: required, 1 to {limit} characters")
    return value


def _aliases(given: Any, collection: str) -> list[str]:
    if given is None:
        return []
    if len(given) > artifacts.MAX_ALIASES:
        raise InvalidInput(f"aliases: at most {artifacts.MAX_ALIASES} a request")
    out: list[str] = []
    for item in given:
        alias = artifacts.check_alias(item.get("alias"))
        named = item.get("artifactCollectionName")
        if named is not None and named != collection:
            raise InvalidInput(f"alias {alias!r}: collection {named!r} is not {collection!r}")
        if not artifacts.is_version_alias(alias) and alias not in out:
            out.append(alias)
    return out


def create(w: Writer, given: dict[str, Any]) -> tuple[Artifact, list[outbox.Due]]:
    """A pending version (or, de-duplicating, the committed one of the same digest)."""
    name = validation.check_name(
        "artifact collection",
        given["artifactCollectionName"],
        validation.COLLECTION_NAME_RE,
        NAME_RULE,
    )
    kind = validation.check_name(
        "artifact type", given["artifactTypeName"], validation.COLLECTION_NAME_RE, NAME_RULE
    )
    digest = _text(given, "digest", MAX_DIGEST)
    _, project = runs.writable_project(
        w.con, w.user, given["entityName"], given["projectName"], create=True
    )
    run_id = None
    if given.get("runName"):
        run = runs.find_run(w.con, project, given["runName"])
        if run is None:
            raise NotFound(
                f"run {given['runName']} not found in {project.entity_name}/{project.name}"
            )
        run_id = run.id
    sequence, made = teams.create_collection(w.con, project, name, kind)
    if not made and sequence.type_name != kind:
        raise InvalidInput(
            f"artifact {name} is of type {sequence.type_name!r}, not {kind!r}: "
            "a collection holds one type"
        )
    aliases = _aliases(given.get("aliases"), name)
    description = given.get("description")
    validation.check_size("description", description, 64 * 1024)
    metadata = artifacts.metadata_text(given.get("metadata"))
    if given.get("enableDigestDeduplication"):
        found = artifacts.find_by_digest(w.con, sequence.id, digest)
        if found is not None:
            return found, _alias_all(w, found, sequence, aliases)
    new = artifacts.NewVersion(sequence, run_id, digest, description, metadata, tuple(aliases))
    return artifacts.insert(w.con, w.user, new), []


def _alias_all(
    w: Writer, art: Artifact, collection: teams.Collection, aliases: list[str]
) -> list[outbox.Due]:
    """Point the aliases at a version of the collection; `alias_added` for each moved."""
    index = artifacts.membership_index(w.con, art.id, collection.id)
    assert index is not None
    moved = [a for a in aliases if artifacts.set_alias(w.con, collection.id, a, art.id)]
    documents = artifact_events.aliases_added(art, collection, index, moved)
    return artifact_events.emit(w.con, w.box, w.user, documents)


def writable(w: Writer, artifact_id: int) -> Artifact:
    art = readable(w.con, w.user, artifact_id)
    if art.state != "PENDING":
        raise InvalidInput(f"artifact {art.sequence.name} is committed: its files are final")
    return art


def manifest_upload(w: Writer, artifact_id: int, signer: uploads.Signer, base_url: str) -> str:
    """A fresh upload URL for the version's manifest (the newest is its manifest)."""
    art = writable(w, artifact_id)
    if art.run_id is None:
        raise InvalidInput("an artifact is uploaded by a run: runName is required")
    upload_id, url = uploads.create_one(w.con, signer, base_url, art.run_id, "wandb_manifest.json")
    w.con.execute("UPDATE artifacts SET manifest_upload = ? WHERE id = ?", (upload_id, art.id))
    return url


@dataclass(frozen=True)
class FileSpec:
    artifact_id: int
    name: str
    md5: str


def file_specs(given: list[dict[str, Any]]) -> list[FileSpec]:
    if len(given) > MAX_FILES:
        raise InvalidInput(f"artifactFiles: at most {MAX_FILES} a request")
    out = []
    for item in given:
        name, md5 = item["name"], item["md5"]
        if not name or len(name) > MAX_FILE_NAME or "\0" in name:
            raise InvalidInput(f"artifactFiles: {name[:64]!r} is not a file name")
        if not md5 or len(md5) > MAX_DIGEST:
            raise InvalidInput(f"artifactFiles: {name[:64]!r} has no valid md5")
        out.append(FileSpec(decode_id(item["artifactID"], "Artifact")[1], name, md5))
    return out


def add_files(
    w: Writer, specs: list[FileSpec], signer: uploads.Signer, base_url: str
) -> list[tuple[FileSpec, str | None]]:
    """Each file's upload URL; None when the team already stores that content."""
    out: list[tuple[FileSpec, str | None]] = []
    checked: dict[int, Artifact] = {}
    for spec in specs:
        if spec.artifact_id not in checked:
            checked[spec.artifact_id] = writable(w, spec.artifact_id)
        art = checked[spec.artifact_id]
        if art.run_id is None:
            raise InvalidInput("an artifact is uploaded by a run: runName is required")
        upload_id, url = _stored_copy(w.con, art, spec.md5), None
        if upload_id is None:
            upload_id, url = uploads.create_one(w.con, signer, base_url, art.run_id, spec.name)
        w.con.execute(
            "INSERT INTO artifact_files (artifact_id, name, md5, upload_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (artifact_id, name) DO UPDATE SET md5 = excluded.md5, "
            "upload_id = excluded.upload_id",
            (art.id, spec.name, spec.md5, upload_id),
        )
        out.append((spec, url))
    return out


def _stored_copy(con: sqlite3.Connection, art: Artifact, md5: str) -> int | None:
    """An upload of the same content already stored for the same team."""
    row = con.execute(
        "SELECT f.upload_id FROM artifact_files AS f JOIN run_files AS u ON u.id = f.upload_id "
        "JOIN artifacts AS a ON a.id = f.artifact_id JOIN collections AS c ON c.id = a.sequence_id "
        "JOIN projects AS p ON p.id = c.project_id "
        "WHERE f.md5 = ? AND u.used = 1 AND p.entity_id = ? LIMIT 1",
        (md5, art.sequence.project.entity_id),
    ).fetchone()
    return None if row is None else int(row[0])


def commit(w: Writer, artifact_id: int) -> tuple[Artifact, list[outbox.Due]]:
    """The version committed as the next `vN` of its sequence, with its aliases;
    `artifact_created`, and `alias_added` per alias (not `latest`). Again: nothing."""
    art = readable(w.con, w.user, artifact_id)
    if art.state == "COMMITTED":
        return art, []
    _require_uploaded(w.con, art)
    w.con.execute("UPDATE artifacts SET state = 'COMMITTED' WHERE id = ?", (art.id,))
    index = artifacts.add_membership(w.con, art.id, art.sequence.id)
    art = artifacts.get(w.con, art.id)
    row = w.con.execute("SELECT pending_aliases FROM artifacts WHERE id = ?", (art.id,)).fetchone()
    aliases = [LATEST, *json.loads(row[0])]
    moved = [a for a in aliases if artifacts.set_alias(w.con, art.sequence.id, a, art.id)]
    key = f"artifact-{art.id}-created"
    documents = [
        artifact_events.about(art, art.sequence, index, "artifact_created", key=key),
        *artifact_events.aliases_added(art, art.sequence, index, moved),
    ]
    return art, artifact_events.emit(w.con, w.box, w.user, documents)


def _require_uploaded(con: sqlite3.Connection, art: Artifact) -> None:
    row = con.execute("SELECT manifest_upload FROM artifacts WHERE id = ?", (art.id,)).fetchone()
    if row[0] is None or not uploads.stored(con, int(row[0])):
        raise InvalidInput(f"artifact {art.sequence.name}: its manifest was not uploaded")
    missing = con.execute(
        "SELECT f.name FROM artifact_files AS f JOIN run_files AS u ON u.id = f.upload_id "
        "WHERE f.artifact_id = ? AND u.used = 0 LIMIT 1",
        (art.id,),
    ).fetchone()
    if missing is not None:
        raise InvalidInput(f"artifact {art.sequence.name}: file {missing[0]!r} was not uploaded")
