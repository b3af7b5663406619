"""The events W&B emits for writes to artifact versions, as events-API documents, stored
and matched in the write's transaction (`runs.emit`: the events API's own path).

`latest` is W&B's own alias (it follows the newest version): moving it fires nothing.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.runtime import incoming
from reconcile.runtime.incoming import InvalidEvents
from reconcile.server.clients.artifacts import LATEST, Artifact
from reconcile.server.runtime import events, outbox
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox

Document = dict[str, Any]


def about(
    art: Artifact, collection: teams.Collection, index: int, kind: str, **extra: Any
) -> Document:
    """One event about version `index` of `collection`, sent by the artifact's team (a
    registry's events are its organization's: the events API places them there)."""
    project = collection.project
    place = (
        {"registry": project.name[len(REGISTRY_PREFIX) :]}
        if project.is_registry
        else {"project": project.name}
    )
    metadata = json.loads(art.metadata or "{}")
    version: Document = {"type": art.sequence.type_name, "version": index}
    if metadata:
        version["metadata"] = metadata
    return {
        "id": extra.pop("key", None) or f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "entity": art.sequence.project.entity_name,
        **place,
        "collection": collection.name,
        "artifact": version,
        "_artifact": art.id,
        **extra,
    }


def aliases_added(
    art: Artifact, collection: teams.Collection, index: int, aliases: list[str]
) -> list[Document]:
    return [
        about(art, collection, index, "alias_added", alias=alias)
        for alias in aliases
        if alias != LATEST
    ]


def emit(
    con: sqlite3.Connection, box: SecretBox, user: teams.User, documents: list[Document]
) -> list[outbox.Due]:
    """Store and match the events (each names its version in `_artifact`); metadata
    beyond the events API's caps is left out of them (the version keeps it)."""
    if not documents:
        return []
    ids = [d.get("_artifact") for d in documents]
    plain = [{k: v for k, v in d.items() if k != "_artifact"} for d in documents]
    try:
        parsed = incoming.parse_document({"events": plain})
    except InvalidEvents:
        for d in plain:
            d["artifact"] = {k: v for k, v in d["artifact"].items() if k != "metadata"}
        parsed = incoming.parse_document({"events": plain})
    return events.store_within(con, box, user, parsed, artifact_ids=ids).queued
