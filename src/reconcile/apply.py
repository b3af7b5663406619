"""The executor: runs a plan's changes in dependency order and reports what happened.

It owns apply policy: phases (secrets, webhooks, automations; deletes in reverse),
bounded concurrency inside a phase, skipping what depends on a failure, and never
deleting anything once something has failed. A backend only translates changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from reconcile.errors import ReconcileError
from reconcile.model import Automation, Inventory, Resource, ResourceKey, Webhook
from reconcile.plan import Change, Plan

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Told the number of changes, then the outcome of each."""

    def start(self, total: int) -> None: ...

    def step(self, change: Change, outcome: str) -> None: ...


class ChangeWriter(Protocol):
    """What the executor needs of a backend: one change, one call."""

    def apply(self, change: Change, resource: Resource | None) -> Awaitable[None]: ...


@dataclass
class ApplyReport:
    """Every change of the plan in exactly one of three lists."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_attempted: list[tuple[Change, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted


def phases(plan: Plan) -> list[list[Change]]:
    """Groups that may run concurrently, in order; the plan is already sorted this way."""
    groups: list[list[Change]] = []
    last: tuple[bool, str] | None = None
    for change in plan.changes:
        marker = (change.action == "delete", change.key.kind)
        if marker != last:
            groups.append([])
            last = marker
        groups[-1].append(change)
    return groups


def dependencies(resource: Resource | None) -> set[ResourceKey]:
    """The keys whose changes must have succeeded before this one runs."""
    if isinstance(resource, Webhook):
        names = {resource.access_token, resource.secret} - {None}
        return {ResourceKey("secret", resource.entity, str(name)) for name in names}
    if isinstance(resource, Automation) and resource.action.kind == "webhook":
        return {ResourceKey("webhook", resource.entity, resource.action.params["to"])}
    return set()


async def execute(
    plan: Plan,
    inventory: Inventory,
    writer: ChangeWriter,
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> ApplyReport:
    """Apply `plan`; a failure skips its dependents and every delete after it."""
    resources = _by_key(inventory)
    report = ApplyReport()
    failed_keys: set[ResourceKey] = set()
    gate = asyncio.Semaphore(concurrency)
    if progress is not None:
        progress.start(len(plan.changes))

    async def run(change: Change) -> None:
        resource = resources.get(change.key)
        blocked = dependencies(resource) & failed_keys
        if blocked:
            why = f"depends on {', '.join(str(k) for k in sorted(blocked))}, which failed"
            report.not_attempted.append((change, why))
            failed_keys.add(change.key)
            _tell(progress, change, "skipped")
            return
        async with gate:
            try:
                await writer.apply(change, None if change.action == "delete" else resource)
            except (ReconcileError, KeyError) as error:
                log.info("failed: %s: %s", change.key, error)
                report.failed.append((change, _reason(error)))
                failed_keys.add(change.key)
                _tell(progress, change, "failed")
                return
        report.applied.append(change)
        _tell(progress, change, "applied")

    for group in phases(plan):
        if group[0].action == "delete" and (report.failed or report.not_attempted):
            why = "not pruned: an earlier change failed"
            report.not_attempted.extend((change, why) for change in group)
            continue
        await asyncio.gather(*(run(change) for change in group))
    order = {id(change): index for index, change in enumerate(plan.changes)}
    report.applied.sort(key=lambda change: order[id(change)])
    report.failed.sort(key=lambda item: order[id(item[0])])
    report.not_attempted.sort(key=lambda item: order[id(item[0])])
    return report


def _by_key(inventory: Inventory) -> dict[ResourceKey, Resource]:
    found: dict[ResourceKey, Resource] = {s.key: s for s in inventory.secrets}
    found.update((w.key, w) for w in inventory.webhooks)
    found.update((a.key, a) for a in inventory.automations)
    return found


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no server id known for {error.args[0]}"
    return str(error)


def _tell(progress: Progress | None, change: Change, outcome: str) -> None:
    if progress is not None:
        progress.step(change, outcome)
