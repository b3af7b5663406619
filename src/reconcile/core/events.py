"""The catalogue of events: wire names, the scopes W&B allows, and payload variables.

One table that validation, the wire translation and the docs all read, so the three
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScopeKind = Literal["project", "registry", "collection", "team", "organization"]

GENERIC_VARIABLES = frozenset({"project_name", "entity_name", "event_type", "event_author"})
ARTIFACT_VARIABLES = frozenset(
    {"artifact_version", "artifact_version_string", "artifact_collection_name"}
)
RUN_VARIABLES = frozenset({"run_id", "run_name", "run_url"})
METRIC_VARIABLES = frozenset({"metric_name", "metric_value"})
METADATA_PREFIX = "artifact_metadata."


@dataclass(frozen=True)
class EventSpec:
    """What W&B calls an event, where it may listen, and what its payload may use."""

    kind: str
    wire: str
    scopes: frozenset[ScopeKind]
    variables: frozenset[str]
    artifact: bool
    # The artifact fields its filter may test (`alias`, `tag`); run events have none.
    fields: tuple[str, ...] = ()

    def allows_variable(self, name: str) -> bool:
        if self.artifact and name.startswith(METADATA_PREFIX):
            key = name[len(METADATA_PREFIX) :]
            return bool(key) and "." not in key
        return name in self.variables


# An artifact event may also listen on a whole entity: every project of the team, or
# every registry of its organization (W&B's ENTITY scope, as SDK 0.31 writes it).
_ANY_ARTIFACT_SCOPE: frozenset[ScopeKind] = frozenset(
    {"project", "registry", "collection", "team", "organization"}
)
# A run event may listen in one project or in every project of the team (W&B's ENTITY).
_RUN_SCOPE: frozenset[ScopeKind] = frozenset({"project", "team"})
_COLLECTION_SCOPE: frozenset[ScopeKind] = frozenset({"collection"})
_ARTIFACT = GENERIC_VARIABLES | ARTIFACT_VARIABLES
_RUN = GENERIC_VARIABLES | RUN_VARIABLES

_TAG = _ARTIFACT | {"tag"}
# Collection tags belong to the collection, not to one version.
_COLLECTION_TAG = GENERIC_VARIABLES | {"artifact_collection_name", "tag"}

EVENTS: dict[str, EventSpec] = {
    spec.kind: spec
    for spec in (
        EventSpec(
            "alias_added",
            "ADD_ARTIFACT_ALIAS",
            _ANY_ARTIFACT_SCOPE,
            _ARTIFACT | {"alias"},
            True,
            ("alias",),
        ),
        EventSpec("artifact_created", "CREATE_ARTIFACT", _COLLECTION_SCOPE, _ARTIFACT, True),
        EventSpec(
            "artifact_linked", "LINK_MODEL", _ANY_ARTIFACT_SCOPE, _ARTIFACT, True, ("alias",)
        ),
        EventSpec(
            "artifact_unlinked", "UNLINK_ARTIFACT", _ANY_ARTIFACT_SCOPE, _ARTIFACT, True, ("alias",)
        ),
        EventSpec("tag_added", "ADD_ARTIFACT_TAG", _ANY_ARTIFACT_SCOPE, _TAG, True, ("tag",)),
        EventSpec("tag_removed", "REMOVE_ARTIFACT_TAG", _ANY_ARTIFACT_SCOPE, _TAG, True, ("tag",)),
        EventSpec(
            "collection_tag_added",
            "ADD_COLLECTION_TAG",
            _ANY_ARTIFACT_SCOPE,
            _COLLECTION_TAG,
            True,
            ("tag",),
        ),
        EventSpec(
            "collection_tag_removed",
            "REMOVE_COLLECTION_TAG",
            _ANY_ARTIFACT_SCOPE,
            _COLLECTION_TAG,
            True,
            ("tag",),
        ),
        EventSpec("run_metric", "RUN_METRIC", _RUN_SCOPE, _RUN | METRIC_VARIABLES, False),
        EventSpec(
            "run_metric_change", "RUN_METRIC_CHANGE", _RUN_SCOPE, _RUN | METRIC_VARIABLES, False
        ),
        EventSpec(
            "run_metric_zscore", "RUN_METRIC_ZSCORE", _RUN_SCOPE, _RUN | METRIC_VARIABLES, False
        ),
        EventSpec("run_state", "RUN_STATE", _RUN_SCOPE, _RUN | {"run_state"}, False),
    )
}

BY_WIRE: dict[str, EventSpec] = {spec.wire: spec for spec in EVENTS.values()}


def variable_owner(name: str) -> str | None:
    """The event kinds that do define `name`, for a helpful error elsewhere."""
    owners = [spec.kind for spec in EVENTS.values() if spec.allows_variable(name)]
    return ", ".join(owners) if owners else None
