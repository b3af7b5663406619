"""Events sent to the runtime (`schema/event.schema.json`): parsed into frozen values.

Every problem names the event's index and the field (`events[2].artifact.version: ...`),
and all problems of a batch are reported at once; nothing is half-accepted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from reconcile.core.errors import ReconcileError
from reconcile.core.model import REGISTRY_PREFIX

MAX_EVENTS = 1000
MAX_TEXT = 1024
MAX_METRICS = 1000
MAX_VERSION = 2**53 - 1
# Documented caps (README, "Events"): an artifact's metadata as compact UTF-8 JSON, and
# how deeply objects and arrays nest in it (the metadata object itself is level 1).
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32
ARTIFACT_TYPES = (
    "artifact_created",
    "artifact_linked",
    "artifact_unlinked",
    "alias_added",
    "tag_added",
    "tag_removed",
    "collection_tag_added",
    "collection_tag_removed",
)
RUN_TYPES = ("run_logged", "run_state")
TYPES = (*ARTIFACT_TYPES, *RUN_TYPES)
STATES = ("running", "finished", "failed", "crashed")
# Which events fire which kinds of automation (the keys under `when:`).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "alias_added": ("alias_added",),
    "artifact_created": ("artifact_created",),
    "artifact_linked": ("artifact_linked",),
    "artifact_unlinked": ("artifact_unlinked",),
    "tag_added": ("tag_added",),
    "tag_removed": ("tag_removed",),
    "collection_tag_added": ("collection_tag_added",),
    "collection_tag_removed": ("collection_tag_removed",),
    "run_metric": ("run_logged",),
    "run_metric_change": ("run_logged",),
    "run_metric_zscore": ("run_logged",),
    "run_state": ("run_state",),
}
_KEYS: dict[str, frozenset[str]] = {
    "artifact_created": frozenset({"collection", "artifact"}),
    "artifact_linked": frozenset({"collection", "artifact", "alias"}),
    "alias_added": frozenset({"collection", "artifact", "alias"}),
    "artifact_unlinked": frozenset({"collection", "artifact", "alias"}),
    "tag_added": frozenset({"collection", "artifact", "tag"}),
    "tag_removed": frozenset({"collection", "artifact", "tag"}),
    # A collection's tags belong to the collection: no version is involved.
    "collection_tag_added": frozenset({"collection", "tag"}),
    "collection_tag_removed": frozenset({"collection", "tag"}),
    "run_logged": frozenset({"run", "step", "metrics"}),
    "run_state": frozenset({"run", "state"}),
}
_COMMON = frozenset({"id", "type", "entity", "project", "registry", "author"})
_REQUIRED: dict[str, tuple[str, ...]] = {
    "artifact_created": ("collection", "artifact"),
    "artifact_linked": ("collection", "artifact"),
    "alias_added": ("collection", "artifact", "alias"),
    "artifact_unlinked": ("collection", "artifact"),
    "tag_added": ("collection", "artifact", "tag"),
    "tag_removed": ("collection", "artifact", "tag"),
    "collection_tag_added": ("collection", "tag"),
    "collection_tag_removed": ("collection", "tag"),
    "run_logged": ("run", "metrics"),
    "run_state": ("run", "state"),
}


@dataclass(frozen=True)
class Artifact:
    """The artifact version an artifact event is about (`version` is the N of `vN`)."""

    version: int
    type: str = "model"
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Run:
    """The run a run event is about; `name` is its display name (the id when not given)."""

    id: str
    name: str


@dataclass(frozen=True)
class IncomingEvent:
    """One event, checked. `project` is W&B's project name (`wandb-registry-model` for
    `registry: model`); `registry` keeps the short name when the event named one."""

    type: str
    entity: str
    project: str
    id: str | None = None
    registry: str | None = None
    collection: str | None = None
    artifact: Artifact | None = None
    alias: str | None = None
    tag: str | None = None
    run: Run | None = None
    step: int | None = None
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    state: str | None = None
    author: str | None = None

    @property
    def where(self) -> str:
        """`registry model` or `project NAME`, for messages."""
        return f"registry {self.registry}" if self.registry else f"project {self.project}"

    def as_json(self) -> dict[str, Any]:
        """The event as it would be sent (only the keys it has), for storage and display."""
        out: dict[str, Any] = {"type": self.type, "entity": self.entity}
        if self.id is not None:
            out["id"] = self.id
        out.update({"registry": self.registry} if self.registry else {"project": self.project})
        for name in ("collection", "alias", "tag", "step", "state", "author"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.artifact is not None:
            art = self.artifact
            out["artifact"] = {"type": art.type, "version": art.version}
            if art.metadata:
                out["artifact"]["metadata"] = dict(art.metadata)
        if self.run is not None:
            out["run"] = {"id": self.run.id, "name": self.run.name}
        if self.type == "run_logged":
            out["metrics"] = dict(self.metrics)
        return out


@dataclass(frozen=True, order=True)
class EventProblem:
    """What is wrong with one field of one event."""

    index: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"events[{self.index}]" + (f".{self.field}" if self.field else "")
        return f"{where}: {self.message}"


class InvalidEvents(ReconcileError):
    """Raised for a batch with problems; `problems` holds every one of them."""

    def __init__(self, problems: list[EventProblem]) -> None:
        self.problems = tuple(sorted(problems))
        super().__init__("; ".join(str(p) for p in self.problems))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """JSON text as Python values; refuses NaN and Infinity, which JSON does not have."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError as error:
        raise InvalidEvents([EventProblem(0, "", f"not valid JSON: {error}")]) from None
    except RecursionError:
        # How deep the decoder gets depends on the caller's stack: name the cause only.
        depth = MAX_METADATA_DEPTH
        message = f"not valid JSON here: it nests too deeply (metadata: {depth} levels)"
        raise InvalidEvents([EventProblem(0, "", message)]) from None


def parse_document(document: Any) -> tuple[IncomingEvent, ...]:
    """`{"events": [EVENT, ...]}` or a bare EVENT, checked; raises InvalidEvents."""
    if isinstance(document, dict) and "events" in document and "type" not in document:
        extra = sorted(set(document) - {"events"})
        if extra:
            raise InvalidEvents([EventProblem(0, "", f"unknown key {extra[0]!r} beside 'events'")])
        batch = document["events"]
        if not isinstance(batch, list) or not 1 <= len(batch) <= MAX_EVENTS:
            message = f"'events' must be a list of 1 to {MAX_EVENTS} events"
            raise InvalidEvents([EventProblem(0, "", message)])
    else:
        batch = [document]
    events: list[IncomingEvent] = []
    problems: list[EventProblem] = []
    for index, raw in enumerate(batch):
        checker = _Checker(index)
        event = checker.event(raw)
        problems.extend(checker.problems)
        if event is not None:
            events.append(event)
    if problems:
        raise InvalidEvents(problems)
    return tuple(events)


class _Checker:
    """Checks one event, collecting its problems."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.problems: list[EventProblem] = []

    def fail(self, name: str, message: str) -> None:
        self.problems.append(EventProblem(self.index, name, message))

    def event(self, raw: Any) -> IncomingEvent | None:
        if not isinstance(raw, dict):
            self.fail("", "an event must be a JSON object")
            return None
        kind = raw.get("type")
        if kind not in TYPES:
            self.fail("type", f"must be one of {', '.join(TYPES)} (got {_show(kind)})")
            return None
        self._keys(raw, kind)
        entity = self.text(raw, "entity", required=True)
        project, registry = self._place(raw)
        values = self._artifact_part(raw, kind) if kind in ARTIFACT_TYPES else self._run_part(raw)
        event_id, author = self.text(raw, "id"), self.text(raw, "author")
        if self.problems or entity is None or project is None:
            return None
        event = IncomingEvent(kind, entity, project, event_id, registry, author=author)
        return replace(event, **values)

    def _keys(self, raw: dict[str, Any], kind: str) -> None:
        allowed = _COMMON | _KEYS[kind]
        for name in sorted(set(raw) - allowed, key=str):
            owners = [t for t in TYPES if name in _KEYS[t]]
            hint = f" (only for {', '.join(owners)} events)" if owners else ""
            self.fail(str(name), f"unknown key for {kind} events{hint}")
        for name in _REQUIRED[kind]:
            if name not in raw:
                self.fail(name, f"required for {kind} events")

    def _place(self, raw: dict[str, Any]) -> tuple[str | None, str | None]:
        if ("project" in raw) == ("registry" in raw):
            self.fail("project", "give exactly one of 'project' and 'registry'")
            return None, None
        if "registry" in raw:
            registry = self.text(raw, "registry", required=True)
            return (REGISTRY_PREFIX + registry if registry else None), registry
        return self.text(raw, "project", required=True), None

    def _artifact_part(self, raw: dict[str, Any], kind: str) -> dict[str, Any]:
        values: dict[str, Any] = {"collection": self.text(raw, "collection")}
        for name in ("alias", "tag"):
            if name in _KEYS[kind]:
                values[name] = self.text(raw, name)
        values["artifact"] = self._artifact(raw.get("artifact")) if "artifact" in raw else None
        return values

    def _artifact(self, raw: Any) -> Artifact | None:
        if not isinstance(raw, dict):
            self.fail("artifact", 'must be an object like {"type": "model", "version": 3}')
            return None
        for name in sorted(set(raw) - {"type", "version", "metadata"}, key=str):
            self.fail(f"artifact.{name}", "unknown key (artifact has type, version, metadata)")
        version: Any = raw.get("version")
        if not _whole(version, MAX_VERSION):
            self.fail("artifact.version", f"must be a whole number >= 0 (got {_show(version)})")
        kind = self.text(raw, "type", prefix="artifact.") or "model"
        metadata = raw.get("metadata", {})
        if not isinstance(metadata, dict):
            self.fail("artifact.metadata", "must be an object")
        else:
            self._plain(metadata, "artifact.metadata")
        if self.problems:
            return None
        return Artifact(version, kind, MappingProxyType(dict(metadata)))

    def _run_part(self, raw: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {"run": self._run(raw.get("run")) if "run" in raw else None}
        if "step" in raw:
            if not _whole(raw["step"], MAX_VERSION):
                self.fail("step", f"must be a whole number >= 0 (got {_show(raw['step'])})")
            else:
                values["step"] = raw["step"]
        if "metrics" in raw:
            values["metrics"] = self._metrics(raw["metrics"])
        if "state" in raw:
            state = raw["state"]
            if state not in STATES:
                self.fail("state", f"must be one of {', '.join(STATES)} (got {_show(state)})")
            values["state"] = state
        return values

    def _run(self, raw: Any) -> Run | None:
        if not isinstance(raw, dict):
            self.fail("run", 'must be an object like {"id": "1x2y3z", "name": "sweep-7"}')
            return None
        for name in sorted(set(raw) - {"id", "name"}, key=str):
            self.fail(f"run.{name}", "unknown key (run has id and name)")
        run_id = self.text(raw, "id", required=True, prefix="run.")
        name = self.text(raw, "name", prefix="run.")
        return Run(run_id, name if name is not None else run_id) if run_id else None

    def _metrics(self, raw: Any) -> Mapping[str, float]:
        if not isinstance(raw, dict) or len(raw) > MAX_METRICS:
            self.fail("metrics", f"must be an object of at most {MAX_METRICS} metric values")
            return MappingProxyType({})
        for name, value in raw.items():
            if not name or not is_utf8(name):
                self.fail("metrics", f"{name!r} is not a metric name")
            elif not _number(value):
                self.fail(f"metrics.{name}", f"must be a finite number (got {_show(value)})")
        return MappingProxyType(dict(raw))

    def text(
        self, raw: dict[str, Any], name: str, *, required: bool = False, prefix: str = ""
    ) -> str | None:
        value = raw.get(name)
        if value is None and not required and name not in raw:
            return None
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            self.fail(prefix + name, f"must be a non-empty string of at most {MAX_TEXT} characters")
            return None
        if not is_utf8(value):
            self.fail(prefix + name, _SURROGATE)
            return None
        return value

    def _plain(self, value: Any, where: str) -> None:
        """Metadata: nested at most MAX_METADATA_DEPTH levels, JSON only (finite numbers),
        UTF-8 encodable (it ends up in request bodies), at most MAX_METADATA_BYTES as
        compact JSON (its values are copied into every body that names them, and it is
        stored with the event). The encoder (C) checks all but the depth."""
        if _depth(value) > MAX_METADATA_DEPTH:
            message = f"nests deeper than {MAX_METADATA_DEPTH} levels of objects and arrays"
            self.fail(where, message)
            return
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            size = len(text.encode("utf-8"))
        except ValueError as error:  # UnicodeEncodeError is one too
            surrogate = isinstance(error, UnicodeEncodeError)
            self.fail(where, _SURROGATE if surrogate else _NOT_FINITE)
            return
        if size > MAX_METADATA_BYTES:
            self.fail(where, f"is {size} bytes of JSON; the limit is {MAX_METADATA_BYTES}")


_SURROGATE = "holds a lone surrogate, which is not text"
_NOT_FINITE = "holds a number JSON cannot carry (NaN or infinity)"


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (itself level 1), counted level by
    level (no recursion) up to one past MAX_METADATA_DEPTH."""
    level, depth = [value], 0
    while level and depth <= MAX_METADATA_DEPTH:
        depth += 1
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend(child for child in children if isinstance(child, dict | list))
        level = below
    return depth + (1 if level else 0)


def _whole(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def is_utf8(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True) if value is not None else "nothing"
    return text if len(text) <= 40 else text[:37] + "..."
