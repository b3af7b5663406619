"""The main job, as library calls: read the server, plan, and apply a reviewed plan.

The CLI calls these with explicit arguments and turns their exceptions into exit
codes; tests call them directly against the embedded server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconcile.apply import lock
from reconcile.apply import target as targets
from reconcile.apply.executor import ApplyReport, Progress, execute
from reconcile.client.reader import Lookup, Reader, ScopeRef
from reconcile.client.transport import RetryPolicy
from reconcile.client.writer import Writer
from reconcile.core import features
from reconcile.core.errors import ReconcileError, ServerError, UsageError
from reconcile.core.model import REGISTRY_PREFIX, EnvUrl, Inventory, Resource, ResourceKey, State
from reconcile.export.convert import NONE_REJECTED, Rejected
from reconcile.inventory.semantics import url_problem
from reconcile.plan import reviewed as plandiff
from reconcile.plan.compute import Change, Plan, compute_plan, select, selector, to_json

log = logging.getLogger(__name__)


class PlanRefused(ReconcileError):
    """Raised when apply will not run the plan: drift since review, conflicts, or thresholds."""


@dataclass(frozen=True)
class Planned:
    """A plan and everything needed to apply it."""

    inventory: Inventory
    plan: Plan
    document: dict[str, Any]
    state: State
    lookup: Lookup
    # What the embedded server creates for the inventory (projects, registries,
    # collections), each with a "did you mean" when a similar name exists.
    creates: tuple[str, ...] = ()


async def make_plan(
    inventory: Inventory,
    target: targets.Target,
    reader: Reader,
    whole: bool = True,
    creating: tuple[ScopeRef, ...] = (),
    *,
    only: frozenset[ResourceKey] | None = None,
) -> Planned:
    """Read the server for the inventory's entities and compute the plan; `creating`:
    the missing scopes the embedded server will create at apply; `only`: the objects
    to narrow it to (`--only`)."""
    scopes = targets.scopes_of(inventory)
    state, lookup = await reader.read(inventory.entities, scopes)
    missing = [s for s in lookup.missing_scopes if s not in creating]
    if missing:
        names = "; ".join(targets.scope_name(s) for s in missing)
        raise ServerError(
            f"not on {target.describe()}: {names}; create them in W&B (on a server run by "
            f"`reconcile serve`: {'; '.join(_creating(s, target) for s in missing)}), "
            "then plan again"
        )
    _refuse_other_organizations(inventory, lookup, target)
    plan = referenced(inventory, compute_plan(inventory, state, whole), lookup, target)
    if only is not None:
        plan = select(plan, _known(only, inventory, state, target))
    _refuse_unsupported(inventory, plan, await reader.features(), target)
    return Planned(inventory, plan, to_json(plan), state, lookup)


def _known(
    only: frozenset[ResourceKey], inventory: Inventory, state: State, target: targets.Target
) -> frozenset[ResourceKey]:
    """`only`, once each is known to the inventory or the server (a typo selects nothing)."""
    declared: list[Resource] = [*inventory.secrets, *inventory.webhooks, *inventory.automations]
    known = {r.key for r in declared} | {r.key for r in state.resources}
    unknown = sorted(only - known)
    if unknown:
        names = ", ".join(selector(key) for key in unknown)
        raise UsageError(f"--only {names}: neither in the inventory nor on {target.describe()}")
    return only


def referenced(inventory: Inventory, plan: Plan, lookup: Lookup, target: targets.Target) -> Plan:
    """The plan with a conflict for each automation to write whose Slack channel is not
    connected to its team: apply would fail on it halfway (scopes are checked before).

    The embedded server connects the channels the inventory names itself.
    """
    writing = {c.key for c in plan.changes if c.action != "delete"}
    missing = [
        (auto.key, _no_slack(auto.entity, str(auto.action.params["channel"]), target))
        for auto in inventory.automations
        if auto.key in writing
        and auto.action.kind == "slack"
        and (auto.entity, auto.action.params["channel"]) not in lookup.slack
    ]
    if not missing:
        return plan
    return replace(plan, conflicts=tuple(sorted([*plan.conflicts, *missing])))


def _no_slack(entity: str, channel: str, target: targets.Target) -> str:
    command = "reconcile server" + (f" --server {target.url}" if target.url else "")
    return (
        f"its Slack channel {channel} is not connected to team {entity} on "
        f"{target.describe()}: connect it in W&B (the team's settings, Slack), or, on a "
        f"server run by `reconcile serve`: `{command} create-slack-integration {entity} "
        f"{channel}`; then plan again"
    )


def _refuse_unsupported(
    inventory: Inventory, plan: Plan, enabled: frozenset[str], target: targets.Target
) -> None:
    """Refuse, as the SDK does before sending, automations to write whose event or scope
    the server does not enable (its `serverInfo.features`)."""
    writing = {c.key for c in plan.changes if c.action in ("create", "update")}
    refused = features.refusals((a for a in inventory.automations if a.key in writing), enabled)
    if refused:
        raise ServerError(
            f"{target.describe()} cannot take {len(refused)} automation(s); nothing was "
            "planned:\n" + "\n".join(f"  {r}" for r in refused)
        )


def _refuse_other_organizations(
    inventory: Inventory, lookup: Lookup, target: targets.Target
) -> None:
    """An organization scope names the organization of the automation's own team."""
    wrong = [
        f"automation {a.entity}/{a.name}: organization {a.scope.organization!r} is not "
        f"team {a.entity!r}'s ("
        + (
            f"its organization's entity is {lookup.org_entities[a.entity]!r})"
            if a.entity in lookup.org_entities
            else "it has no organization)"
        )
        for a in inventory.automations
        if a.scope.organization is not None
        and lookup.org_entities.get(a.entity) != a.scope.organization
    ]
    if wrong:
        raise ServerError(f"on {target.describe()}: " + "; ".join(wrong))


def _creating(scope: ScopeRef, target: targets.Target) -> str:
    """The `reconcile server` command that creates a missing scope on the server that
    `reconcile serve` runs at the target's URL (not on a local database)."""
    entity, project, collection = scope
    registry = project[len(REGISTRY_PREFIX) :] if project.startswith(REGISTRY_PREFIX) else None
    command = "reconcile server" + (f" --server {target.url}" if target.url else "")
    if collection is not None:
        where = f"--registry {registry}" if registry else project
        return f"`{command} create-collection {entity} {where} {collection}`"
    if registry is not None:
        return f"`{command} create-registry {entity} {registry}`"
    return f"`{command} create-project {entity} {project}`"


async def plan(
    inventory: Inventory,
    target: targets.Target,
    policy: RetryPolicy | None = None,
    *,
    whole: bool = True,
    only: frozenset[ResourceKey] | None = None,
) -> Planned:
    """Plan against `target` (for the embedded server, first create what the inventory names).

    `whole`: the inventory is all of it; a part (False) never plans a delete. `only`:
    narrow the plan to these objects (`apply --only` applies such a plan).
    """
    creating: tuple[ScopeRef, ...] = ()
    if target.embedded:
        scopes = targets.scopes_of(inventory)
        creating = targets.prepare_embedded(target, inventory, scopes, create=False)
    async with targets.connect(target, policy) as transport:
        planned = await make_plan(inventory, target, Reader(transport), whole, creating, only=only)
    return replace(planned, creates=tuple(targets.creations(target, creating)))


def check_reviewed(
    planned: Planned,
    fingerprint: str | None,
    force: bool,
    reviewed: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a plan that differs from the reviewed one, has conflicts, or needs --force.

    `fingerprint` may be a prefix (at least 12 hex digits); `reviewed`, the reviewed
    plan itself when there is one, lets the refusal say what differs.
    """
    live = planned.document["fingerprint"]
    if fingerprint is not None and not live.startswith(fingerprint.lower()):
        lines = [f"reviewed fingerprint: {fingerprint}", f"live fingerprint:     {live}"]
        if reviewed is None:
            lines.append("(apply --plan FILE, with the reviewed plan, also shows what differs)")
        lines += plandiff.differences(reviewed, planned.document)
        if "only" in planned.document:
            chosen = " ".join(f"--only {s}" for s in planned.document["only"])
            lines.append(
                f"(--only applies a plan made with the same selection: `reconcile plan {chosen}`)"
            )
        raise PlanRefused(
            "the plan has changed since it was reviewed; nothing was applied. Plan again "
            "and review the new plan.\n" + "\n".join(f"  {line}" for line in lines)
        )
    if planned.plan.conflicts:
        keys = ", ".join(str(key) for key, _ in planned.plan.conflicts)
        raise PlanRefused(f"the plan has conflicts ({keys}); nothing was applied")
    if planned.plan.requires_force and not force:
        risky = sum(1 for c in planned.plan.changes if c.action != "create")
        raise PlanRefused(
            f"the plan updates or deletes {risky} of {planned.plan.managed_count} managed "
            "objects (more than 30 %); review it and apply with --force"
        )


def secret_values(planned: Planned, env: Mapping[str, str]) -> dict[ResourceKey, str]:
    """The values this plan writes from environment variables: secrets and webhook URLs."""
    written = {c.key for c in planned.plan.changes if c.action != "delete"}
    sources = [(s.key, s.from_env, "secret") for s in planned.inventory.secrets]
    sources += [
        (h.key, h.url.from_env, "the URL of webhook")
        for h in planned.inventory.webhooks
        if isinstance(h.url, EnvUrl)
    ]
    values: dict[ResourceKey, str] = {}
    missing, refused = [], []
    for key, variable, what in sources:
        if key not in written:
            continue
        value = env.get(variable)
        if not value:
            missing.append(f"{variable} (for {what} {key.entity}/{key.name})")
        elif key.kind == "webhook" and (problem := url_problem(value)):
            # Never quote the value: it is a credential like any secret.
            refused.append(f"{variable}: {problem.replace(value, f'${variable}')}")
        else:
            values[key] = value
    if missing:
        raise UsageError(f"set these environment variables before apply: {', '.join(missing)}")
    if refused:
        raise UsageError("; ".join(refused))
    return values


async def apply(
    inventory: Inventory,
    target: targets.Target,
    *,
    fingerprint: str | None,
    force: bool = False,
    prune: bool = False,
    concurrency: int = 4,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
    env: Mapping[str, str] | None = None,
    whole: bool = True,
    reviewed: Mapping[str, Any] | None = None,
    only: frozenset[ResourceKey] | None = None,
) -> tuple[Planned, ApplyReport]:
    """Re-plan against the live server, check it is the reviewed plan, lock, and apply it.

    Deletes run only when they were reviewed (a fingerprint) or `prune` is given;
    otherwise they are reported as kept. `whole` and `reviewed` are as for `plan` and
    `check_reviewed`. `only` applies a plan narrowed to these objects, and only the
    reviewed one (a fingerprint): an emergency change is reviewed like any other.
    """
    if only is not None and fingerprint is None:
        raise UsageError(
            "--only applies a reviewed plan only: give --fingerprint (or --plan) of a plan "
            "made with the same --only selection"
        )
    created: list[str] = []
    if target.embedded:
        scopes = targets.scopes_of(inventory)
        missing = targets.prepare_embedded(target, inventory, scopes, create=False)
        created = targets.creations(target, missing)  # named before they exist
        targets.prepare_embedded(target, inventory, missing)
    async with targets.connect(target, policy) as transport:
        reader = Reader(transport)
        # Refuse before touching anything (the lock is a write too), then check again
        # under the lock, where nobody else can change the server in between.
        first = await make_plan(inventory, target, reader, whole, only=only)
        check_reviewed(first, fingerprint, force, reviewed)
        held = await _lock(reader, inventory)
        try:
            planned = await make_plan(inventory, target, reader, whole, only=only)
            check_reviewed(planned, fingerprint, force, reviewed)
            values = secret_values(planned, os.environ if env is None else env)
            writer = Writer(reader, planned.lookup, values)
            runnable, kept = _deletes_allowed(planned.plan, fingerprint is not None or prune)
            report = await execute(
                runnable, inventory, writer, concurrency=concurrency, progress=progress
            )
            report.kept.extend((change, KEPT) for change in kept)
        finally:
            for lock_held in reversed(held):
                await lock.release(reader, lock_held)
        return replace(planned, creates=tuple(created)), report


KEPT = "deletes need a reviewed plan (--plan or --fingerprint) or --prune"


def _deletes_allowed(plan: Plan, allowed: bool) -> tuple[Plan, list[Change]]:
    if allowed:
        return plan, []
    kept = [change for change in plan.changes if change.action == "delete"]
    runnable = tuple(change for change in plan.changes if change.action != "delete")
    return replace(plan, changes=runnable), kept


async def _lock(reader: Reader, inventory: Inventory) -> list[lock.Held]:
    """Take the lock of every entity of the inventory, in a fixed order."""
    held: list[lock.Held] = []
    who = lock.holder()
    try:
        for entity in inventory.entities:
            held.append(await lock.acquire(reader, entity, who))
    except BaseException:
        for taken in reversed(held):
            await lock.release(reader, taken)
        raise
    return held


async def export(
    target: targets.Target,
    entity: str,
    *,
    adopt: bool = False,
    rejected: Rejected = NONE_REJECTED,
) -> tuple[State, list[ResourceKey]]:
    """The entity's state; with `adopt`, first stamp the ownership marker on what lacks it
    (but on the automations export leaves out: inexpressible, or `rejected`)."""
    async with targets.connect(target) as transport:
        reader = Reader(transport)
        state, lookup = await reader.read([entity], [])
        if not adopt:
            return state, []
        # Stamping sends only the description (plus each webhook's URL): no scope ids.
        adopted = await Writer(reader, lookup, {}).adopt(state, rejected)
        state, _ = await reader.read([entity], [])
        return state, adopted


async def unlock(target: targets.Target, entity: str) -> str | None:
    """Remove the entity's apply lock; return who held it (None when there was none)."""
    async with targets.connect(target) as transport:
        reader = Reader(transport)
        node = await lock.find(reader, entity)
        if node is None:
            return None
        await lock.release(reader, lock.Held(entity, node["id"]))
        return lock.describe(node)
