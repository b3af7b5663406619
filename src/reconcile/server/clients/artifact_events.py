"""The events W&B emits for writes to artifact versions, as events-API documents, stored
and matched in the write's transaction (`runs.emit`: the events API's own path).

`latest` is W&B's own alias (it follows the newest version): moving it fires nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.runtime.incoming import InvalidEvents
from reconcile.server.clients import runs
from reconcile.server.clients.artifacts import LATEST, Artifact
from reconcile.server.runtime import outbox
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


def emit(con: Any, box: SecretBox, user: teams.User, documents: list[Document]) -> list[outbox.Due]:
    """Store and match the events; metadata beyond the events API's caps is left out of
    them (the version keeps it)."""
    if not documents:
        return []
    try:
        return runs.emit(con, box, user, documents)
    except InvalidEvents:
        bare = [
            {**d, "artifact": {k: v for k, v in d["artifact"].items() if k != "metadata"}}
            for d in documents
        ]
        return runs.emit(con, box, user, bare)
