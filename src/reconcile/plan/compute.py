"""compute_plan: what must change on the server so it matches the inventory.

Pure: an Inventory and a State in, a Plan out. Resources match by (kind, entity,
name) first, then deepdiff explains the differences inside each matched pair.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from reconcile.core.model import (
    Automation,
    Inventory,
    Remote,
    Resource,
    ResourceKey,
    State,
    Webhook,
)
from reconcile.core.safe import visible
from reconcile.plan.normalize import canonical, digest

FORMAT_VERSION = "1"
FORCE_SHARE = 0.30
FORCE_FLOOR = 10
ORDER = {"secret": 0, "webhook": 1, "automation": 2}

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class FieldChange:
    """One field that differs inside a matched pair, by its dotted path."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    """One step of the plan. CREATE has no `before`, DELETE no `after`."""

    action: Action
    key: ResourceKey
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    renamed_from: str | None = None


@dataclass(frozen=True)
class Plan:
    """The ordered changes, plus what was seen and deliberately left alone."""

    changes: tuple[Change, ...] = ()
    unmanaged: tuple[ResourceKey, ...] = ()
    protected: tuple[ResourceKey, ...] = ()
    conflicts: tuple[tuple[ResourceKey, str], ...] = ()
    managed_count: int = 0
    # Not declared, yet not deleted: something that stays on the server still uses them.
    kept: tuple[tuple[ResourceKey, str], ...] = ()
    # Managed objects outside a partial inventory: neither kept nor deleted, not looked at.
    not_considered: int = 0
    # Webhooks whose URL this key reads masked (`scheme://host:port/***`): compared by
    # that endpoint only, so a change of path or query cannot be seen (a warning).
    unverified: tuple[ResourceKey, ...] = ()
    # Changes to objects edited on the server since the last apply recorded what it wrote,
    # each with whether the inventory changed too (False: the change only reverts the edit).
    outside: tuple[tuple[ResourceKey, bool], ...] = ()
    # `apply --only`: the objects the plan was narrowed to (empty: every object).
    only: tuple[ResourceKey, ...] = ()

    @property
    def requires_force(self) -> bool:
        """True when updates and deletes reach FORCE_SHARE of at least FORCE_FLOOR objects."""
        risky = sum(1 for c in self.changes if c.action != "create")
        return self.managed_count >= FORCE_FLOOR and risky > FORCE_SHARE * self.managed_count

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)


@dataclass
class _Matcher:
    remote: dict[ResourceKey, Remote]
    used: set[ResourceKey] = field(default_factory=set)

    def find(self, resource: Resource) -> tuple[Remote | None, str | None]:
        found = self.remote.get(resource.key)
        if found is not None:
            self.used.add(found.key)
            return found, None
        if isinstance(resource, Automation):
            for old in resource.previously:
                key = ResourceKey("automation", resource.entity, old)
                candidate = self.remote.get(key)
                if candidate is not None and candidate.managed and key not in self.used:
                    self.used.add(key)
                    return candidate, old
        return None, None


def compute_plan(inventory: Inventory, state: State, whole: bool = True) -> Plan:
    """The plan that makes `state` match `inventory` (for the inventory's entities).

    `whole` says the inventory is all of it; a part of it never deletes anything.
    """
    matcher = _Matcher({remote.key: remote for remote in state.resources})
    changes: list[Change] = []
    conflicts: list[tuple[ResourceKey, str]] = []
    unverified: list[ResourceKey] = []
    edited: list[tuple[ResourceKey, bool]] = []
    desired: list[Resource] = [*inventory.secrets, *inventory.webhooks, *inventory.automations]
    for resource in desired:
        remote, old_name = matcher.find(resource)
        after = canonical(resource)
        if remote is None:
            changes.append(Change("create", resource.key, after=after))
        elif not remote.managed and remote.key.kind != "secret":
            conflicts.append((resource.key, not_ours(resource.key)))
        else:
            before = canonical(remote.value)
            if remote.url_masked and _same_endpoint(before, after):
                before["url"] = after["url"]  # all this key sees of it is the same
                unverified.append(resource.key)
            change = _update(resource.key, before, after, old_name)
            if change is not None:
                changes.append(change)
                edited.extend(_edited_outside(remote, resource))
    unmanaged, protected, doomed, outside = _undeclared(state, matcher.used, whole)
    kept = still_used(state, matcher.used, doomed)
    deleted = [r for r in doomed if r.key not in kept]
    changes.extend(Change("delete", r.key, before=canonical(r.value)) for r in deleted)
    edited.extend(found for r in deleted for found in _edited_outside(r, None))
    managed = sum(1 for remote in state.resources if remote.managed)
    return Plan(
        tuple(sorted(changes, key=_execution_order)),
        tuple(sorted(unmanaged)),
        tuple(sorted(protected)),
        tuple(sorted(conflicts)),
        managed,
        tuple(sorted(kept.items())),
        outside,
        tuple(sorted(unverified)),
        tuple(sorted(edited)),
    )


def select(plan: Plan, keys: Collection[ResourceKey]) -> Plan:
    """The plan narrowed to `keys` (`--only`): their changes and conflicts, nothing else
    to apply; the selection is part of the plan, so its fingerprint covers it."""
    chosen = set(keys)
    return replace(
        plan,
        changes=tuple(c for c in plan.changes if c.key in chosen),
        conflicts=tuple(c for c in plan.conflicts if c[0] in chosen),
        outside=tuple(o for o in plan.outside if o[0] in chosen),
        only=tuple(sorted(chosen)),
    )


def selector(key: ResourceKey) -> str:
    """`kind/entity/name`, as `--only` takes it."""
    return f"{key.kind}/{key.entity}/{key.name}"


def _edited_outside(remote: Remote, declared: Resource | None) -> list[tuple[ResourceKey, bool]]:
    """`[(key, inventory changed too)]` when the server's object is not what the last apply
    wrote; empty when it is, or when that is not known (no digest recorded, or a URL this
    key reads masked)."""
    if remote.applied is None or remote.url_masked or digest(remote.value) == remote.applied:
        return []
    key = remote.key if declared is None else declared.key
    return [(key, declared is None or digest(declared) != remote.applied)]


def _same_endpoint(masked: dict[str, Any], declared: dict[str, Any]) -> bool:
    """True when a declared literal URL has the scheme, host and port a masked one shows."""
    shown, url = masked.get("url"), declared.get("url")
    if not (isinstance(shown, str) and isinstance(url, str)):
        return False
    return _endpoint(url) == _endpoint(shown)


def _endpoint(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()


def _undeclared(
    state: State, used: set[ResourceKey], whole: bool
) -> tuple[list[ResourceKey], list[ResourceKey], list[Remote], int]:
    """What the inventory does not declare: unmanaged, protected, to delete, not considered."""
    unmanaged, protected, doomed = [], [], []
    outside = 0
    for remote in state.resources:
        if remote.key in used:
            continue
        if not remote.managed:
            unmanaged.append(remote.key)
        elif not whole:
            outside += 1
        elif remote.protected:
            protected.append(remote.key)
        else:
            doomed.append(remote)
    return unmanaged, protected, doomed, outside


def still_used(
    state: State, replaced: set[ResourceKey], doomed: list[Remote]
) -> dict[ResourceKey, str]:
    """The doomed webhooks and secrets that what stays on the server still uses, and why.

    An object stays when the plan neither replaces (matches) nor deletes it: protected
    and unmanaged automations, and the webhooks they keep in use. Deleting what they
    use would fail on the server, or break them.
    """
    doomed_keys = {remote.key for remote in doomed}
    staying = [
        r for r in state.resources if r.key not in doomed_keys and not _replaced(r, replaced)
    ]
    kept: dict[ResourceKey, str] = {}
    for kind in ("automation", "webhook"):  # automations keep webhooks keep secrets
        for remote in sorted(staying, key=lambda r: r.key):
            if remote.key.kind != kind:
                continue
            why = f"still used by {remote.key} ({_why_staying(remote, kept)})"
            for used in sorted(_uses(remote.value) & doomed_keys):
                kept.setdefault(used, why)
        staying += [r for r in doomed if r.key in kept and r.key.kind == "webhook"]
    return kept


def _replaced(remote: Remote, replaced: set[ResourceKey]) -> bool:
    """True when apply makes the object the declared one (an unmanaged match stays as is)."""
    return remote.key in replaced and remote.managed


def _why_staying(remote: Remote, kept: dict[ResourceKey, str]) -> str:
    if remote.key in kept:
        return "kept"
    return "protected" if remote.managed else "not managed by reconcile"


def _uses(value: Resource) -> set[ResourceKey]:
    if isinstance(value, Automation) and value.action.kind == "webhook":
        return {ResourceKey("webhook", value.entity, str(value.action.params.get("to")))}
    if isinstance(value, Webhook):
        names = {value.access_token, value.secret} - {None}
        return {ResourceKey("secret", value.entity, str(name)) for name in names}
    return set()


def not_ours(key: ResourceKey) -> str:
    """The conflict of a declared object the server has, unmarked: how to adopt it (the
    name quoted for a shell, or spelled out when it holds what a terminal would act on)."""
    address = f"{key.entity}/{key.name}"
    shown = visible(address)
    return (
        "exists on the server but is not managed by reconcile; adopt it with "
        f"`reconcile import {key.kind} {shlex.quote(shown) if shown == address else shown}` "
        "(every one: "
        "`reconcile export --adopt`), or choose another name"
    )


def _update(
    key: ResourceKey, before: dict[str, Any], after: dict[str, Any], old_name: str | None
) -> Change | None:
    # Equal canonical forms (1 == 1.0 included) need no explanation: skip deepdiff.
    fields = () if before == after else diff(before, after)
    if old_name is not None:
        fields = (FieldChange("name", old_name, key.name), *fields)
    if not fields:
        return None
    return Change("update", key, before=before, after=after, fields=fields, renamed_from=old_name)


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldChange, ...]:
    """Field-level differences, as our own values (deepdiff stays an implementation detail)."""
    from deepdiff import DeepDiff  # only when something differs: it is slow to import

    tree = DeepDiff(before, after, ignore_numeric_type_changes=True, view="tree")
    found: dict[str, FieldChange] = {}
    for levels in tree.values():
        for level in levels:
            steps = level.path(output_format="list")
            if steps[: len(PAYLOAD)] == list(PAYLOAD) and len(steps) > len(PAYLOAD):
                # A payload changes as a whole: renderers show it as a nested diff.
                path = ".".join(PAYLOAD)
                found[path] = FieldChange(path, _get(before, PAYLOAD), _get(after, PAYLOAD))
                continue
            path = ".".join(str(step) for step in steps)
            absent = 0 if steps[0] == "rotations" else None  # no counter: never rotated
            found[path] = FieldChange(path, _present(level.t1, absent), _present(level.t2, absent))
    return tuple(sorted(found.values(), key=lambda change: change.path))


PAYLOAD = ("then", "webhook", "payload")


def _get(value: Any, steps: tuple[str, ...]) -> Any:
    for step in steps:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _present(value: Any, absent: Any) -> Any:
    return absent if type(value).__name__ == "NotPresent" else value


def _execution_order(change: Change) -> tuple[int, int, ResourceKey]:
    rank = ORDER[change.key.kind]
    if change.action == "delete":
        return (1, -rank, change.key)
    return (0, rank, change.key)


def to_json(plan: Plan) -> dict[str, Any]:
    """The canonical plan: what renderers read and what the fingerprint covers."""
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "summary": {a: plan.count(a) for a in ("create", "update", "delete")},
        "has_changes": bool(plan.changes),
        "requires_force": plan.requires_force,
        "changes": [_change_json(change) for change in plan.changes],
        "unmanaged": [_key_json(key) for key in plan.unmanaged],
        "protected": [_key_json(key) for key in plan.protected],
        "conflicts": [{**_key_json(key), "message": msg} for key, msg in plan.conflicts],
    }
    # Present only when there is something to say, so plans without them keep their form.
    if plan.kept:
        body["kept"] = [{**_key_json(key), "message": why} for key, why in plan.kept]
    if plan.not_considered:
        body["not_considered"] = plan.not_considered
    if plan.unverified:
        body["unverified"] = [_key_json(key) for key in plan.unverified]
    if plan.only:
        body["only"] = [selector(key) for key in plan.only]
    if plan.outside:
        body["changed_outside"] = [
            {**_key_json(key), "inventory_changed": changed} for key, changed in plan.outside
        ]
    body["fingerprint"] = fingerprint(body)
    return body


# What the fingerprint leaves out: what depends on who plans, not on what apply does (a
# reviewer's key may see less of a webhook's URL than the key apply runs with).
UNCOVERED = ("fingerprint", "target", "unverified")


def fingerprint(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the plan (without its own fingerprint)."""
    content = {k: v for k, v in body.items() if k not in UNCOVERED}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key_json(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind, "entity": key.entity, "name": key.name}


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        **_key_json(change.key),
        "renamed_from": change.renamed_from,
        "before": change.before,
        "after": change.after,
        "fields": [{"path": f.path, "before": f.before, "after": f.after} for f in change.fields],
    }
