"""Turn schema-valid documents into model values, filling every default.

The defaults filled here are the canonical form the plan compares against the
server, so a resource written tersely and one written in full are equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from reconcile.core import filters
from reconcile.core.events import EVENTS
from reconcile.core.model import (
    REGISTRY_PREFIX,
    Action,
    Automation,
    EnvUrl,
    Event,
    Kind,
    Origin,
    ResourceKey,
    Scope,
    Secret,
    Webhook,
)
from reconcile.inventory.loader import Document, Finding, Pointer

KINDS = ("secrets", "webhooks", "automations")
# Fields other checks build on; a resource with one of them broken is not checked further.
ESSENTIAL = {
    "secrets": {"name", "entity"},
    "webhooks": {"name", "entity", "url", "access_token", "secret"},
    "automations": {"name", "entity", "scope", "when", "then"},
}
REQUIRED = {
    "secrets": ("name",),
    "webhooks": ("name", "url"),
    "automations": ("name", "scope", "when", "then"),
}
NOUNS: dict[str, Kind] = {"secrets": "secret", "webhooks": "webhook", "automations": "automation"}


@dataclass(frozen=True)
class Item:
    """One raw resource mapping with where it came from and its resolved entity."""

    kind: str
    data: dict[str, Any]
    origin: Origin
    entity: str | None

    @property
    def noun(self) -> Kind:
        """`secret`, `webhook` or `automation`."""
        return NOUNS[self.kind]


def items(documents: list[Document]) -> Iterator[Item]:
    """Every resource mapping of every document, in file order."""
    for document in documents:
        data = document.data if isinstance(document.data, dict) else {}
        default = data.get("entity") if isinstance(data.get("entity"), str) else None
        for kind in KINDS:
            entries = data.get(kind)
            if not isinstance(entries, list):
                continue
            for index, entry in enumerate(entries):
                if isinstance(entry, dict):
                    entity = entry.get("entity", default)
                    origin = Origin(document.path, (kind, index))
                    yield Item(kind, entry, origin, entity if isinstance(entity, str) else None)


def complete(item: Item) -> bool:
    """Whether every required field is there (the schema reported any that are not)."""
    return all(name in item.data for name in REQUIRED[item.kind])


def missing_entity(item: Item) -> Finding:
    message = (
        f"{_where(item.origin.pointer)}: no entity for this {item.noun}; set `entity:` on it "
        "or at the top of the file"
    )
    return Finding(item.origin.path, item.origin.pointer, message)


def _where(pointer: Pointer) -> str:
    kind, index = pointer[0], pointer[1]
    return f"{kind}[{index}]"


def _entity(item: Item) -> str:
    assert item.entity is not None, "items without an entity are reported, not built"
    return item.entity


def secret(item: Item) -> Secret:
    data = item.data
    return Secret(
        entity=_entity(item),
        name=data["name"],
        from_env=data.get("from_env", data["name"]),
        rotation=data.get("rotation", 0),
        origin=item.origin,
    )


def webhook(item: Item) -> Webhook:
    data = item.data
    return Webhook(
        entity=_entity(item),
        name=data["name"],
        url=_url(data["url"]),
        access_token=data.get("access_token"),
        secret=data.get("secret"),
        origin=item.origin,
    )


def _url(value: str | dict[str, Any]) -> str | EnvUrl:
    if isinstance(value, dict):
        return EnvUrl(value["from_env"], value.get("rotation", 0))
    return value


def with_rotations(hook: Webhook, rotation: dict[ResourceKey, int]) -> Webhook:
    """The webhook with the rotation counters of the declared secrets it uses."""
    names = sorted({name for name in (hook.access_token, hook.secret) if name})
    counters = tuple(
        (name, rotation.get(ResourceKey("secret", hook.entity, name), 0)) for name in names
    )
    return replace(hook, rotations=counters)


def automation(item: Item) -> Automation:
    data = item.data
    return Automation(
        entity=_entity(item),
        name=data["name"],
        description=data.get("description", AUTOMATION_DEFAULTS["description"]),
        enabled=data.get("enabled", AUTOMATION_DEFAULTS["enabled"]),
        scope=scope(data["scope"]),
        event=event(data["when"]),
        action=action(data["then"]),
        previously=tuple(data.get("previously", ())),
        protect=data.get("protect", AUTOMATION_DEFAULTS["protect"]),
        origin=item.origin,
    )


def scope(data: dict[str, Any]) -> Scope:
    if "team" in data:
        return Scope(project="", collection=data.get("collection"), team=data["team"])
    if "organization" in data:
        return Scope("", collection=data.get("collection"), organization=data["organization"])
    # `registry: wandb-registry-model` is the registry `model` (validate warns).
    registry = data.get("registry")
    project = data.get("project") or REGISTRY_PREFIX + registry_name(registry or "")
    return Scope(project=project, collection=data.get("collection"))


def registry_name(written: str) -> str:
    """A registry's name, without the `wandb-registry-` prefix W&B adds (and people copy)."""
    return written.removeprefix(REGISTRY_PREFIX) or written


# The defaults filled in, per event and action kind: what a plan leaves out when showing
# what a person wrote. `prior_window` defaults to the event's `window`.
EVENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "alias_added": {"alias": None},
    "artifact_linked": {"alias": None},
    "artifact_unlinked": {"alias": None},
    "tag_added": {"tag": None},
    "tag_removed": {"tag": None},
    "collection_tag_added": {"tag": None},
    "collection_tag_removed": {"tag": None},
    "run_metric": {"aggregate": None, "window": 1},
    "run_metric_change": {"change": "absolute", "aggregate": None, "window": 1},
    "run_metric_zscore": {"threshold": 3.0, "window": 30, "direction": "any"},
}
RUN_DEFAULTS: dict[str, Any] = {"run_name": None}
ACTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "webhook": {"payload": None},
    "slack": {"title": "", "message": "", "severity": "info"},
}
AUTOMATION_DEFAULTS: dict[str, Any] = {"description": "", "enabled": True, "protect": False}


def event(data: dict[str, Any]) -> Event:
    ((kind, given),) = data.items()
    params = dict(given or {})
    for name in EVENTS[kind].fields:
        params[name] = filters.canonical(name, params.get(name))
    for name, value in EVENT_DEFAULTS.get(kind, {}).items():
        params.setdefault(name, value)
    if kind == "run_metric_change":
        params.setdefault("prior_window", params["window"])
    elif kind == "run_state":
        order = ("running", "finished", "failed")
        params["states"] = sorted(params["states"], key=order.index)
    if kind.startswith("run_"):
        params["run_name"] = filters.canonical("run_name", params.get("run_name"))
    return Event(kind, params)


def action(data: dict[str, Any]) -> Action:
    ((kind, given),) = data.items()
    params = dict(given or {})
    if kind == "slack":
        params["channel"] = params["channel"].removeprefix("#")  # Slack names it without '#'
    for name, value in ACTION_DEFAULTS.get(kind, {}).items():
        params.setdefault(name, value)
    return Action(kind, params)
