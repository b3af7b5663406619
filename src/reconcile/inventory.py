"""Load an inventory: files -> schema -> model -> semantic checks, all problems at once.

`load_inventory` is the one entry point; it returns a valid `Inventory` or raises
`InvalidInventory` carrying every problem found, positioned as `file:line:col`.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconcile import build, schema, semantics
from reconcile.errors import InvalidInventory, Issue
from reconcile.loader import Document, Finding, Positions, discover, load_files
from reconcile.model import Automation, Inventory, ResourceKey, Secret, Webhook

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
    broken: set[tuple[str, tuple[str | int, ...]]] = set()
    for document in documents:
        for finding in schema.check(document):
            findings.append(finding)
            broken.add((document.path, finding.pointer[:2]))
            if len(finding.pointer) < 2:
                broken.add((document.path, ()))
    names = semantics.Names()
    secrets: list[Secret] = []
    webhooks: list[Webhook] = []
    automations: list[Automation] = []
    for item in build.items(documents):
        name = item.data.get("name")
        if item.entity is None:
            findings.append(build.missing_entity(item))
            continue
        if isinstance(name, str):
            names.add(ResourceKey(item.kind[:-1], item.entity, name), item.origin)  # type: ignore[arg-type]
        if {(item.origin.path, item.origin.pointer), (item.origin.path, ())} & broken:
            continue
        if item.kind == "secrets":
            secrets.append(build.secret(item, item.entity))
        elif item.kind == "webhooks":
            webhooks.append(build.webhook(item, item.entity))
        else:
            automations.append(build.automation(item, item.entity))
    findings.extend(semantics.duplicate_names(names))
    hooks = {hook.key: hook for hook in webhooks}
    for secret in secrets:
        findings.extend(semantics.check_secret(secret))
    for hook in webhooks:
        findings.extend(semantics.check_webhook(hook, names))
    for auto in automations:
        findings.extend(semantics.check_automation(auto, names, hooks))
    inventory = Inventory(tuple(secrets), tuple(webhooks), tuple(automations))
    return inventory, findings


def _unique(issues: list[Issue]) -> list[Issue]:
    return sorted(set(issues))
