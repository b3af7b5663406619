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

from reconcile.core.model import Automation, Inventory, Resource, ResourceKey, Webhook
from reconcile.plan.compute import Change, Plan

log = logging.getLogger(__name__)

BATCH_SIZE = 50


class Progress(Protocol):
    """Told the number of changes, then the outcome of each."""

    def start(self, total: int) -> None: ...

    def step(self, change: Change, outcome: str) -> None: ...


Outcome = tuple[Change, str | None]  # the change, and why it failed (None: applied)


class ChangeWriter(Protocol):
    """What the executor needs of a backend: carry out changes, say how each went.

    A batch holds changes of one phase that do not depend on each other; the backend
    may send them in one request, or one by one.
    """

    def apply_batch(
        self, changes: list[tuple[Change, Resource | None]]
    ) -> Awaitable[list[Outcome]]: ...


@dataclass
class ApplyReport:
    """Every change of the plan in exactly one of four lists."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_attempted: list[tuple[Change, str]] = field(default_factory=list)
    kept: list[tuple[Change, str]] = field(default_factory=list)  # left out on purpose

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
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ApplyReport:
    """Apply `plan`; a failure skips its dependents and every delete after it."""
    run = _Run(writer, _by_key(inventory), asyncio.Semaphore(concurrency), progress)
    if progress is not None:
        progress.start(len(plan.changes))
    for group in phases(plan):
        if group[0].action == "delete" and (run.report.failed or run.report.not_attempted):
            why = "not pruned: an earlier change failed"
            run.report.not_attempted.extend((change, why) for change in group)
            continue
        ready = [change for change in group if run.ready(change)]
        size = batch_size if group[0].key.kind == "automation" else 1
        chunks = [ready[i : i + size] for i in range(0, len(ready), size)]
        await asyncio.gather(*(run.batch(chunk) for chunk in chunks))
    return run.sorted_report(plan)


@dataclass
class _Run:
    """The state of one apply: outcomes so far, and what failed."""

    writer: ChangeWriter
    resources: dict[ResourceKey, Resource]
    gate: asyncio.Semaphore
    progress: Progress | None
    report: ApplyReport = field(default_factory=ApplyReport)
    failed_keys: set[ResourceKey] = field(default_factory=set)

    def ready(self, change: Change) -> bool:
        """False (and recorded as not attempted) when something it depends on failed."""
        blocked = dependencies(self.resources.get(change.key)) & self.failed_keys
        if not blocked:
            return True
        why = f"depends on {', '.join(str(k) for k in sorted(blocked))}, which failed"
        self.report.not_attempted.append((change, why))
        self.failed_keys.add(change.key)
        _tell(self.progress, change, "skipped")
        return False

    async def batch(self, changes: list[Change]) -> None:
        pairs = [(c, None if c.action == "delete" else self.resources.get(c.key)) for c in changes]
        async with self.gate:
            outcomes = await self.writer.apply_batch(pairs)
        for change, error in outcomes:
            if error is None:
                self.report.applied.append(change)
                _tell(self.progress, change, "applied")
            else:
                log.info("failed: %s: %s", change.key, error)
                self.report.failed.append((change, error))
                self.failed_keys.add(change.key)
                _tell(self.progress, change, "failed")

    def sorted_report(self, plan: Plan) -> ApplyReport:
        order = {id(change): index for index, change in enumerate(plan.changes)}
        self.report.applied.sort(key=lambda change: order[id(change)])
        self.report.failed.sort(key=lambda item: order[id(item[0])])
        self.report.not_attempted.sort(key=lambda item: order[id(item[0])])
        return self.report


def _by_key(inventory: Inventory) -> dict[ResourceKey, Resource]:
    found: dict[ResourceKey, Resource] = {s.key: s for s in inventory.secrets}
    found.update((w.key, w) for w in inventory.webhooks)
    found.update((a.key, a) for a in inventory.automations)
    return found


def _tell(progress: Progress | None, change: Change, outcome: str) -> None:
    if progress is not None:
        progress.step(change, outcome)
