"""Load an inventory: files -> schema -> model -> semantic checks, all problems at once.

`load_inventory` is the one entry point; it returns a valid `Inventory` or raises
`InvalidInventory` carrying every problem found, positioned as `file:line:col`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from reconcile.core.errors import InvalidInventory, Issue
from reconcile.core.model import Inventory, ResourceKey
from reconcile.inventory import build, project, schema, semantics
from reconcile.inventory.loader import Document, Finding, Pointer, Positions, discover, load_files

DEFAULT_PATHS = ("automations",)


def load_inventory(paths: Sequence[str] = DEFAULT_PATHS, strict: bool = False) -> Inventory:
    """Read, validate and return the inventory under `paths`; raise on any problem."""
    return load_checked(paths, strict)[0]


def load_checked(
    paths: Sequence[str] = DEFAULT_PATHS, strict: bool = False
) -> tuple[Inventory, list[Issue]]:
    """The inventory and its warnings; with `strict`, a warning is a problem like any other."""
    with collector_paused():
        return _load_checked(paths, strict)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block. Loading builds hundreds of
    thousands of objects that all stay alive (values, then models), and each collection
    of the oldest generation walks all of them again: a third of a cold `validate` of
    10,000 automations (bench/README.md). What loading leaves is acyclic garbage, freed
    by reference counting; the collector is back on (as it was) when the block ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # What the block built stays alive (the caller keeps it), but it all sits in
            # the youngest generation: the first allocation after `enable` would walk it
            # all (0.05-0.08 s after a plan of 10,000). Freezing and unfreezing moves
            # every tracked object to the oldest generation without a walk; cycles there
            # are still found by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _load_checked(paths: Sequence[str], strict: bool) -> tuple[Inventory, list[Issue]]:
    found = discover(paths)
    documents, issues = load_files(found)
    unread = tuple(sorted({issue.location.path for issue in issues}))
    inventory, findings, unchecked = check(documents, unread, _left_out(found))
    if unchecked:
        issues = _noted(issues, unchecked)
    positions = Positions(documents)
    warnings = [
        positions.issue(finding)
        for finding in findings
        if finding.warning
        and not (finding.unless_quoted and positions.quoted(finding.path, finding.pointer))
    ]
    issues.extend(positions.issue(finding) for finding in findings if not finding.warning)
    if strict:
        issues, warnings = issues + warnings, []
    if issues:
        raise InvalidInventory(_unique(issues), _unique(warnings))
    return inventory, _unique(warnings)


def _noted(issues: list[Issue], count: int) -> list[Issue]:
    """The first issue of each unreadable file says what could not be checked because of it."""
    noun = "reference" if count == 1 else "references"
    note = f" ({count} {noun} to secrets or webhooks not checked: this file may declare them)"
    noted: list[Issue] = []
    seen: set[str] = set()
    for issue in issues:
        first = issue.location.path not in seen
        seen.add(issue.location.path)
        noted.append(replace(issue, message=issue.message + note) if first else issue)
    return noted


def _left_out(found: list[Path]) -> dict[ResourceKey, str]:
    """The names declared in the project's inventory files that PATHS leave out, and where:
    a reference to one is still an error, but the message says where the name is."""
    folder = project.inventory_dir()
    if not folder.is_dir():
        return {}
    given = {path.resolve() for path in found}
    others = [path for path in discover([str(folder)]) if path.resolve() not in given]
    documents, _ = load_files(others)  # their own problems are not this command's
    names: dict[ResourceKey, str] = {}
    for item in build.items(documents):
        if item.entity is not None and isinstance(item.data.get("name"), str):
            key = ResourceKey(item.noun, item.entity, item.data["name"])
            names.setdefault(key, item.origin.path)
    return names


def check(
    documents: list[Document],
    unread: tuple[str, ...] = (),
    left_out: dict[ResourceKey, str] | None = None,
) -> tuple[Inventory, list[Finding], int]:
    """Schema and semantic findings of loaded documents, and the model of the valid parts.

    The count is of references left unchecked because files in `unread` may declare them;
    `left_out`: names declared in inventory files not loaded, for the messages.
    """
    findings: list[Finding] = []
    # The fields of each resource that failed the schema; None: the resource (or file) is lost.
    broken: dict[tuple[str, Pointer], set[str] | None] = {}
    for document in documents:
        for finding in schema.check(document):
            findings.append(finding)
            _mark(broken, document.path, finding.pointer)
    names = semantics.Names(unread=unread, left_out=left_out or {})
    valid: list[build.Item] = []
    for item in build.items(documents):
        if item.entity is None:
            findings.append(build.missing_entity(item))
            continue
        if isinstance(item.data.get("name"), str):
            names.add(ResourceKey(item.noun, item.entity, item.data["name"]), item.origin)
        usable = _usable(item, broken)
        if usable is not None:
            valid.append(usable)
            if usable.kind == "automations":
                findings.extend(semantics.check_filters(usable.data.get("when"), usable.origin))
                findings.extend(semantics.check_registry(usable.data.get("scope"), usable.origin))
    inventory = _build(valid)
    findings.extend(semantics.check(inventory, names))
    return inventory, findings, names.unchecked


def _mark(broken: dict[tuple[str, Pointer], set[str] | None], path: str, pointer: Pointer) -> None:
    if len(pointer) < 2:  # above resource level: the whole file
        broken[(path, ())] = None
        return
    key = (path, pointer[:2])
    if len(pointer) < 3:
        broken[key] = None
        return
    fields = broken.setdefault(key, set())
    if fields is not None:
        fields.add(str(pointer[2]))


def _usable(
    item: build.Item, broken: dict[tuple[str, Pointer], set[str] | None]
) -> build.Item | None:
    """The item to check semantically: itself, or without fields the schema refused.

    Only fields nothing else depends on are left out (`enabled`, a typo'd key, ...), so
    a mistake there does not hide the rest of the resource's problems.
    """
    if (item.origin.path, ()) in broken:
        return None
    key = (item.origin.path, item.origin.pointer)
    if key not in broken:
        return item
    fields = broken[key]
    if fields is None or fields & build.ESSENTIAL[item.kind]:
        return None
    data = {name: value for name, value in item.data.items() if name not in fields}
    trimmed = replace(item, data=data)
    return trimmed if build.complete(trimmed) else None


def _build(items: list[build.Item]) -> Inventory:
    secrets = [build.secret(i) for i in items if i.kind == "secrets"]
    rotation = {secret.key: secret.rotation for secret in secrets}
    webhooks = [
        build.with_rotations(build.webhook(i), rotation) for i in items if i.kind == "webhooks"
    ]
    automations = [build.automation(i) for i in items if i.kind == "automations"]
    return Inventory(tuple(secrets), tuple(webhooks), tuple(automations))


def _unique(issues: list[Issue]) -> list[Issue]:
    return sorted(set(issues))
