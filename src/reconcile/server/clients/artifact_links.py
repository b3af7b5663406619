"""Registry links and edits of artifact versions: `LinkArtifact` (the collection created
in an existing registry on first link), `UnlinkArtifact`, `AddAliases`/`DeleteAliases`,
`UpdateArtifact` (metadata, description, tags); their access rules and events.

Who may: members of the team that logged a version read, link and edit it; in a
registry, the members of the organization's teams (its entity's members) link and move
aliases. `run.link_model` names the team's legacy `model-registry` project: it lands in
the organization's `model` registry, as W&B maps it today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.server.api import validation
from reconcile.server.api.ids import decode_id
from reconcile.server.clients import artifact_events, artifacts
from reconcile.server.clients.artifact_writes import NAME_RULE, Writer, readable
from reconcile.server.clients.artifacts import LATEST, Artifact
from reconcile.server.errors import Forbidden, InvalidInput, NotFound
from reconcile.server.runtime import outbox
from reconcile.server.store import teams

LEGACY_MODEL_REGISTRY = "model-registry"
MAX_TAGS = 100
TAG_RE = re.compile(r"^[-\w]+([ ]+[-\w]+)*$")
TAG_RULE = "letters, digits, '-', '_' and single spaces, 1 to 128 characters"


@dataclass(frozen=True)
class Linked:
    artifact: Artifact
    collection: teams.Collection
    index: int


def _target_project(w: Writer, art: Artifact, entity: str, project: str) -> teams.Project:
    """The project or registry a link names; the legacy `model-registry` of a team is
    its organization's `model` registry."""
    team = teams.find_team(w.con, entity)
    if team is None:
        raise NotFound(teams.missing_team(entity))
    if not team.is_org and project == LEGACY_MODEL_REGISTRY:
        team, project = teams.registry_entity(w.con, team), REGISTRY_PREFIX + "model"
    if teams.member_role(w.con, team.id, w.user.id) is None:
        raise NotFound(teams.missing_team(entity))
    found = teams.find_project(w.con, team.name, project)
    if found is None:
        what = (
            f"registry {project[len(REGISTRY_PREFIX) :]}" if team.is_org else f"project {project}"
        )
        raise NotFound(f"{what} not found in entity {team.name}")
    source = teams.get_team_by_id(w.con, art.sequence.project.entity_id)
    same_org = team.is_org and team.organization_id == source.organization_id
    if not (found.is_registry and same_org) and found.entity_id != source.id:
        raise Forbidden(
            f"permission denied: a version of {source.name} links into its own projects "
            "or its organization's registries"
        )
    return found


def _portfolio(w: Writer, art: Artifact, given: dict[str, Any]) -> teams.Collection:
    if given.get("artifactPortfolioID"):
        number = decode_id(given["artifactPortfolioID"], "ArtifactCollection")[1]
        collection = teams.get_collection(w.con, number)
        project = collection.project
        _target_project(w, art, _entity_name(w, project), project.name)
        return collection
    entity, project_name = given.get("entityName"), given.get("projectName")
    name = given.get("artifactPortfolioName")
    if not (entity and project_name and name):
        raise InvalidInput("entityName, projectName and artifactPortfolioName are required")
    validation.check_name("artifact collection", name, validation.COLLECTION_NAME_RE, NAME_RULE)
    place = _target_project(w, art, entity, project_name)
    collection, made = teams.create_collection(w.con, place, name, art.sequence.type_name)
    if not made and collection.type_name != art.sequence.type_name:
        raise InvalidInput(
            f"collection {name} holds {collection.type_name!r} artifacts, "
            f"not {art.sequence.type_name!r}"
        )
    return collection


def _entity_name(w: Writer, project: teams.Project) -> str:
    return teams.get_team_by_id(w.con, project.entity_id).name


def _committed(w: Writer, artifact_id: Any) -> Artifact:
    if not artifact_id:
        raise InvalidInput("artifactID is required (linking by client id is not supported)")
    art = readable(w.con, w.user, decode_id(artifact_id, "Artifact")[1])
    if art.state != "COMMITTED":
        raise InvalidInput(f"artifact {art.sequence.name} is not committed yet")
    return art


def link(w: Writer, given: dict[str, Any]) -> tuple[Linked, list[outbox.Due]]:
    """Link a version into a collection (a no-op but for aliases when it is linked);
    `artifact_linked` for a new link, `alias_added` per alias it moved there."""
    art = _committed(w, given.get("artifactID"))
    collection = _portfolio(w, art, given)
    if collection.id == art.sequence.id:
        raise InvalidInput(f"artifact {art.sequence.name} is already in its own collection")
    aliases = _aliases([a.get("alias") for a in given.get("aliases") or []])
    known = artifacts.membership_index(w.con, art.id, collection.id)
    index = artifacts.add_membership(w.con, art.id, collection.id)
    documents = []
    if known is None:
        artifacts.set_alias(w.con, collection.id, LATEST, art.id)
        documents.append(artifact_events.about(art, collection, index, "artifact_linked"))
    moved = [a for a in aliases if artifacts.set_alias(w.con, collection.id, a, art.id)]
    documents += artifact_events.aliases_added(art, collection, index, moved)
    return Linked(art, collection, index), artifact_events.emit(w.con, w.box, w.user, documents)


def unlink(w: Writer, given: dict[str, Any]) -> list[outbox.Due]:
    """Unlink a version from a registry collection: its aliases there go with it;
    `artifact_unlinked` (with the version's first alias there, W&B's alias filter)."""
    art = readable(w.con, w.user, decode_id(given["artifactID"], "Artifact")[1])
    number = decode_id(given["artifactPortfolioID"], "ArtifactCollection")[1]
    collection = teams.get_collection(w.con, number)
    if collection.id == art.sequence.id:
        raise InvalidInput("a version cannot be unlinked from its own collection")
    _target_project(w, art, _entity_name(w, collection.project), collection.project.name)
    index = artifacts.membership_index(w.con, art.id, collection.id)
    if index is None:
        raise NotFound(f"artifact is not linked to collection {collection.name}")
    held = [a for c, a in artifacts.aliases_of(w.con, art.id) if c == collection.id]
    custom = [a for a in held if a != LATEST]
    w.con.execute(
        "DELETE FROM artifact_aliases WHERE artifact_id = ? AND collection_id = ?",
        (art.id, collection.id),
    )
    w.con.execute(
        "DELETE FROM artifact_memberships WHERE artifact_id = ? AND collection_id = ?",
        (art.id, collection.id),
    )
    _relatest(w, collection.id, LATEST in held)
    extra = {"alias": custom[0]} if custom else {}
    document = artifact_events.about(art, collection, index, "artifact_unlinked", **extra)
    return artifact_events.emit(w.con, w.box, w.user, [document])


def _relatest(w: Writer, collection_id: int, moved: bool) -> None:
    """`latest` goes to the newest version left, when it left with the unlinked one."""
    newest = artifacts.versions_of(w.con, collection_id, 0, 1)
    if moved and newest:
        artifacts.set_alias(w.con, collection_id, LATEST, newest[0][0])


def _aliases(given: list[Any]) -> list[str]:
    if len(given) > artifacts.MAX_ALIASES:
        raise InvalidInput(f"aliases: at most {artifacts.MAX_ALIASES} a request")
    out: list[str] = []
    for alias in given:
        artifacts.check_alias(alias)
        if not artifacts.is_version_alias(alias) and alias not in out:
            out.append(alias)
    return out


def _alias_collection(w: Writer, art: Artifact, item: dict[str, Any]) -> teams.Collection:
    """The collection an alias input names: the version's sequence or a collection the
    version is linked into."""
    project = _target_project(w, art, item["entityName"], item["projectName"])
    collection = teams.find_collection(w.con, project, item["artifactCollectionName"])
    if collection is None or artifacts.membership_index(w.con, art.id, collection.id) is None:
        raise NotFound(
            f"artifact is not in collection {item['artifactCollectionName']} of "
            f"{item['entityName']}/{item['projectName']}"
        )
    return collection


def add_aliases(w: Writer, given: dict[str, Any]) -> list[outbox.Due]:
    art = _committed(w, given["artifactID"])
    _aliases([a["alias"] for a in given["aliases"]])
    documents = []
    for item in given["aliases"]:
        if artifacts.is_version_alias(item["alias"]):
            continue
        collection = _alias_collection(w, art, item)
        if artifacts.set_alias(w.con, collection.id, item["alias"], art.id):
            index = artifacts.membership_index(w.con, art.id, collection.id)
            assert index is not None
            documents += artifact_events.aliases_added(art, collection, index, [item["alias"]])
    return artifact_events.emit(w.con, w.box, w.user, documents)


def delete_aliases(w: Writer, given: dict[str, Any]) -> None:
    """Remove aliases (W&B has no event for it); `latest` is W&B's own."""
    art = _committed(w, given["artifactID"])
    _aliases([a["alias"] for a in given["aliases"]])
    for item in given["aliases"]:
        collection = _alias_collection(w, art, item)
        if item["alias"] == LATEST:
            raise InvalidInput("the alias latest is managed by W&B: it cannot be removed")
        artifacts.remove_alias(w.con, collection.id, item["alias"], art.id)


def _tags(given: Any) -> list[str]:
    items = given or []
    if len(items) > MAX_TAGS:
        raise InvalidInput(f"tags: at most {MAX_TAGS} a request")
    out = []
    for item in items:
        tag = item["tagName"]
        if len(tag) > 128:
            raise InvalidInput(f"invalid tag {tag[:64]!r}...: {TAG_RULE}")
        out.append(validation.check_name("tag", tag, TAG_RE, TAG_RULE))
    return out


def update(w: Writer, given: dict[str, Any]) -> tuple[Artifact, list[outbox.Due]]:
    """Metadata and description replaced; tags added and removed: `tag_added` and
    `tag_removed` per tag that changed, in each collection the version is in."""
    art = _committed(w, given["artifactID"])
    metadata = artifacts.metadata_text(given.get("metadata"))
    description = given.get("description")
    validation.check_size("description", description, 64 * 1024)
    added, removed = _tags(given.get("tagsToAdd")), _tags(given.get("tagsToDelete"))
    artifacts.set_metadata(w.con, art.id, metadata, description)
    art = artifacts.get(w.con, art.id)
    changes = [("tag_added", t) for t in added if artifacts.add_tag(w.con, art.id, t)]
    changes += [("tag_removed", t) for t in removed if artifacts.remove_tag(w.con, art.id, t)]
    documents = []
    for collection_id, index, _ in artifacts.memberships_of(w.con, art.id):
        collection = teams.get_collection(w.con, collection_id)
        documents += [
            artifact_events.about(art, collection, index, kind, tag=tag) for kind, tag in changes
        ]
    return art, artifact_events.emit(w.con, w.box, w.user, documents)
