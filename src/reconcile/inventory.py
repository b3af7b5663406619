"""Load an inventory: files -> schema -> model -> semantic checks, all problems at once.

`load_inventory` is the one entry point; it returns a valid `Inventory` or raises
`InvalidInventory` carrying every problem found, positioned as `file:line:col`.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconcile import build, schema, semantics
from reconcile.errors import InvalidInventory, Issue
from reconcile.loader import Document, Finding, Pointer, Positions, discover, load_files
from reconcile.model import Inventory, ResourceKey

DEFAULT_PATHS = ("automations",)


def load_inventory(paths: Sequence[str] = DEFAULT_PATHS) -> Inventory:
    """Read, validate and return the inventory under `paths`; raise on any problem."""
    documents, issues = load_files(discover(paths))
    inventory, findings = check(documents)
    if findings:
        positions = Positions(documents)
        issues.extend(positions.issue(finding) for finding in findings)
    if issues:
        raise InvalidInventory(_unique(issues))
    return inventory


def check(documents: list[Document]) -> tuple[Inventory, list[Finding]]:
    """Schema and semantic findings of loaded documents, and the model of the valid parts."""
    findings: list[Finding] = []
    broken: set[tuple[str, Pointer]] = set()
    for document in documents:
        for finding in schema.check(document):
            findings.append(finding)
            # A finding breaks its resource; one above resource level breaks the file.
            scope = finding.pointer[:2] if len(finding.pointer) >= 2 else ()
            broken.add((document.path, scope))
    names = semantics.Names()
    valid: list[build.Item] = []
    for item in build.items(documents):
        if item.entity is None:
            findings.append(build.missing_entity(item))
            continue
        if isinstance(item.data.get("name"), str):
            names.add(ResourceKey(item.noun, item.entity, item.data["name"]), item.origin)
        if not {(item.origin.path, item.origin.pointer), (item.origin.path, ())} & broken:
            valid.append(item)
    inventory = _build(valid)
    findings.extend(semantics.check(inventory, names))
    return inventory, findings


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
