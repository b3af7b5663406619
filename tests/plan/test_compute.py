"""compute_plan on hand-built server states: matching, renames, ownership, thresholds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconcile.core.model import (
    Action,
    Automation,
    Event,
    Inventory,
    Remote,
    ResourceKey,
    Scope,
    Secret,
    State,
    Webhook,
)
from reconcile.core.wire import decode_event
from reconcile.inventory.load import load_inventory
from reconcile.plan.compute import Change, FieldChange, compute_plan, fingerprint, to_json

EXAMPLES = Path(__file__).resolve().parents[2] / "automations" / "examples"
INVENTORY = load_inventory([str(EXAMPLES)])


def mirror(inventory: Inventory) -> State:
    """The state a server has right after applying `inventory`."""
    resources = [
        *(Remote(s, managed=True) for s in inventory.secrets),
        *(Remote(w, id=f"W-{w.name}", managed=True) for w in inventory.webhooks),
        *(
            Remote(a, id=f"T-{a.name}", managed=True, protected=a.protect)
            for a in inventory.automations
        ),
    ]
    return State(tuple(resources))


def test_everything_is_created_on_an_empty_server_in_dependency_order() -> None:
    plan = compute_plan(INVENTORY, State())
    kinds = [change.key.kind for change in plan.changes]
    assert {change.action for change in plan.changes} == {"create"}
    assert kinds == sorted(kinds, key=["secret", "webhook", "automation"].index)
    assert len(plan.changes) == 5 + 7 + 16


def test_a_mirrored_server_needs_no_change() -> None:
    plan = compute_plan(INVENTORY, mirror(INVENTORY))
    assert plan.changes == ()
    assert to_json(plan)["summary"] == {"create": 0, "update": 0, "delete": 0}


def test_one_changed_field_is_named_exactly() -> None:
    state = mirror(INVENTORY)
    auto = INVENTORY.automations[0]
    params = {**auto.event.params, "alias": "^prod$"}
    changed = replace(auto, event=replace(auto.event, params=params))
    plan = compute_plan(
        replace(INVENTORY, automations=(changed, *INVENTORY.automations[1:])), state
    )
    [change] = plan.changes
    assert change.action == "update"
    assert change.key == auto.key
    assert change.fields == (
        FieldChange(f"when.{auto.event.kind}.alias", auto.event.params["alias"], "^prod$"),
    )


def test_numbers_compare_by_value_not_type() -> None:
    state = mirror(INVENTORY)
    secret = INVENTORY.secrets[0]
    assert (
        compute_plan(
            replace(INVENTORY, secrets=(replace(secret, rotation=0.0), *INVENTORY.secrets[1:])),  # type: ignore[arg-type]
            state,
        ).changes
        == ()
    )


def test_previously_turns_a_rename_into_an_update() -> None:
    auto = INVENTORY.automations[0]
    renamed = replace(auto, name="deploy-renamed", previously=(auto.name,))
    inventory = replace(INVENTORY, automations=(renamed, *INVENTORY.automations[1:]))
    [change] = compute_plan(inventory, mirror(INVENTORY)).changes
    assert change.action == "update"
    assert change.renamed_from == auto.name
    assert change.fields == (FieldChange("name", auto.name, "deploy-renamed"),)


def test_only_managed_objects_are_deleted_and_protected_ones_survive() -> None:
    state = mirror(INVENTORY)
    stranger = Remote(Webhook("ml-platform", "by-hand", "https://x.example.com"), id="W-x")
    state = State((*state.resources, stranger))
    empty = Inventory()
    plan = compute_plan(empty, state)
    deleted = {change.key for change in plan.changes}
    protected = {a.key for a in INVENTORY.automations if a.protect}
    assert protected
    assert protected.isdisjoint(deleted)
    assert set(plan.protected) == protected
    assert stranger.key not in deleted
    assert plan.unmanaged == (stranger.key,)
    assert {change.action for change in plan.changes} == {"delete"}
    kinds = [change.key.kind for change in plan.changes]
    assert kinds == sorted(kinds, key=["automation", "webhook", "secret"].index)


def test_an_unmanaged_object_with_a_declared_name_is_a_conflict() -> None:
    hook = INVENTORY.webhooks[0]
    state = State((Remote(hook, id="W-1", managed=False),))
    plan = compute_plan(replace(INVENTORY, automations=()), state)
    assert [key for key, _ in plan.conflicts] == [hook.key]
    assert hook.key not in {change.key for change in plan.changes}


def test_existing_secrets_are_adopted_and_compared_by_rotation() -> None:
    secret = INVENTORY.secrets[0]
    remote = Remote(Secret(secret.entity, secret.name, "", rotation=0))
    inventory = Inventory(secrets=(replace(secret, rotation=3),))
    [change] = compute_plan(inventory, State((remote,))).changes
    assert change == Change(
        "update",
        secret.key,
        before={"rotation": 0},
        after={"rotation": 3},
        fields=(FieldChange("rotation", 0, 3),),
    )


@pytest.mark.parametrize(
    ("deletes", "updates", "force"),
    [(3, 0, False), (4, 0, True), (0, 3, False), (0, 4, True), (2, 1, False), (2, 2, True)],
)
def test_large_updates_and_deletes_need_force(deletes: int, updates: int, force: bool) -> None:
    """More than 30 % of 10 managed objects changed: updates count exactly as deletes do."""
    autos = tuple(replace(INVENTORY.automations[1], name=f"a{i}", protect=False) for i in range(10))
    state = mirror(Inventory(automations=autos))
    edited = tuple(
        replace(a, description=f"edited {a.name}") if i < deletes + updates else a
        for i, a in enumerate(autos)
    )
    plan = compute_plan(Inventory(automations=edited[deletes:]), state)
    assert (plan.count("delete"), plan.count("update"), plan.count("create")) == (
        deletes,
        updates,
        0,
    )
    assert plan.requires_force is force


def test_small_sets_never_need_force() -> None:
    autos = tuple(replace(INVENTORY.automations[1], name=f"a{i}") for i in range(9))
    assert not compute_plan(Inventory(), mirror(Inventory(automations=autos))).requires_force


def test_the_json_plan_is_deterministic_and_fingerprinted() -> None:
    first = to_json(compute_plan(INVENTORY, State()))
    second = to_json(compute_plan(INVENTORY, State()))
    assert first == second
    assert first["fingerprint"] == fingerprint(first)
    assert len(first["fingerprint"]) == 64
    other = to_json(compute_plan(replace(INVENTORY, automations=()), State()))
    assert other["fingerprint"] != first["fingerprint"]


def test_keys_identify_resources() -> None:
    assert isinstance(INVENTORY.automations[0], Automation)
    assert INVENTORY.automations[0].key == ResourceKey(
        "automation", "ml-platform", INVENTORY.automations[0].name
    )


def test_what_an_unmanaged_automation_uses_is_kept_and_a_part_deletes_nothing() -> None:
    hand_made = Automation(
        "ml", "x", Scope("p"), Event("run_state", {}), Action("webhook", {"to": "hook"})
    )
    state = State(
        (
            Remote(hand_made, id="T-x"),  # not managed by reconcile
            Remote(Webhook("ml", "hook", "https://h.example", access_token="TOKEN"), managed=True),
            Remote(Webhook("ml", "lonely", "https://l.example"), managed=True),
            Remote(Secret("ml", "TOKEN", "TOKEN"), managed=True),
        )
    )
    plan = compute_plan(Inventory(), state)
    assert [(c.action, str(c.key)) for c in plan.changes] == [("delete", "webhook ml/lonely")]
    assert [(str(key), why) for key, why in plan.kept] == [
        ("secret ml/TOKEN", "still used by webhook ml/hook (kept)"),
        ("webhook ml/hook", "still used by automation ml/x (not managed by reconcile)"),
    ]
    part = compute_plan(Inventory(), state, whole=False)
    assert (part.changes, part.kept, part.not_considered) == ((), (), 3)
    assert to_json(part)["not_considered"] == 3


def test_a_server_side_change_of_tag_operator_is_drift() -> None:
    """The inventory's exact tag `^gold`; the server's filter changed to `$regex: ^gold`."""
    exact = next(a for a in INVENTORY.automations if a.name == "review-queue-opened")
    declared = replace(exact, event=Event("collection_tag_added", {"tag": "^gold"}))
    inventory = replace(
        INVENTORY, automations=tuple(declared if a is exact else a for a in INVENTORY.automations)
    )
    regex = {"filter": {"$or": [{"$and": [{"tag": {"$regex": "^gold"}}]}]}}
    server_event = decode_event("ADD_COLLECTION_TAG", json.dumps(regex))
    state = mirror(inventory)
    drifted = State(
        tuple(
            replace(r, value=replace(r.value, event=server_event)) if r.key == exact.key else r
            for r in state.resources
        )
    )
    [change] = compute_plan(inventory, drifted).changes
    assert (change.action, change.key) == ("update", exact.key)
    assert change.fields == (
        FieldChange("when.collection_tag_added.tag", {"matches": "^gold"}, "^gold"),
    )


def test_a_masked_url_is_compared_by_its_endpoint_and_never_written_back() -> None:
    """A key that reads `https://host/***` sees no URL change, only the others: an update
    for them carries the declared URL, not the masked one."""
    hook = next(w for w in INVENTORY.webhooks if w.name == "deploy-pipeline")
    seen = replace(hook, url="https://deploy.example.com/***", access_token="OTHER")
    others = [r for r in mirror(INVENTORY).resources if r.key != hook.key]
    masked = Remote(seen, id="W-x", managed=True, url_masked=True)
    plan = compute_plan(INVENTORY, State((*others, masked)))
    (change,) = plan.changes
    assert (change.action, change.key, change.fields) == (
        "update",
        hook.key,
        (FieldChange("access_token", "OTHER", "DEPLOY_TOKEN"),),
    )
    assert change.after is not None
    assert change.after["url"] == "https://deploy.example.com/hooks/wandb"
    assert plan.unverified == (hook.key,)
    moved = replace(seen, url="https://elsewhere.example.com/***", access_token="DEPLOY_TOKEN")
    plan = compute_plan(INVENTORY, State((*others, replace(masked, value=moved))))
    assert [(c.key, c.fields) for c in plan.changes] == [
        (
            hook.key,
            (
                FieldChange(
                    "url",
                    "https://elsewhere.example.com/***",
                    "https://deploy.example.com/hooks/wandb",
                ),
            ),
        )
    ]
    assert plan.unverified == ()
