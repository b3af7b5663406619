"""The static cost of operations: what it counts, and what the SDK and reconcile send."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.client import operations as ops
from reconcile.server import cost
from reconcile.server.graph import Documents, load_schema
from tests.server.helpers import TEAM
from tests.server.test_serve_limits import TRIGGER_FIELDS, pages

SCHEMA = load_schema()


def cost_of(document: str, variables: dict[str, Any] | None = None) -> int:
    prepared = Documents(SCHEMA).prepare(document)
    assert prepared.document is not None, prepared.errors
    (operation,) = [d for d in prepared.document.definitions if d.kind == "operation_definition"]
    return cost.operation_cost(SCHEMA, prepared.fragments, operation, variables)  # type: ignore[arg-type]


def batch(size: int) -> str:
    """reconcile's batched apply: `size` aliased creates in one request."""
    declarations = ", ".join(f"$v{i}: CreateFilterTriggerInput!" for i in range(size))
    fields = " ".join(
        f"a{i}: createFilterTrigger(input: $v{i}) {{ trigger {{ id }} }}" for i in range(size)
    )
    return f"mutation ApplyBatch({declarations}) {{ {fields} }}"


def test_what_the_sdk_and_reconcile_send_costs_an_eighth_of_the_budget_at_most() -> None:
    sdk = pytest.importorskip("wandb.automations._generated.operations")
    sdk_default = {"entity": TEAM, "perPage": 50}
    costs = {
        "sdk GetEntityAutomations": cost_of(sdk.GET_ENTITY_AUTOMATIONS_GQL, sdk_default),
        "sdk GetEntityAutomations, largest page": cost_of(
            sdk.GET_ENTITY_AUTOMATIONS_GQL, {"entity": TEAM, "perPage": 1000}
        ),
        "sdk GetEntityAutomationsLegacy": cost_of(
            sdk.GET_ENTITY_AUTOMATIONS_LEGACY_GQL, sdk_default
        ),
        "sdk IntegrationsByEntity": cost_of(sdk.INTEGRATIONS_BY_ENTITY_GQL, sdk_default),
        "sdk CreateAutomation": cost_of(sdk.CREATE_AUTOMATION_GQL),
        "reconcile listing": cost_of(ops.ENTITY_TRIGGERS, {"perPage": ops.PAGE_SIZE}),
        "reconcile legacy listing": cost_of(ops.ENTITY_TRIGGERS_LEGACY, {"perPage": ops.PAGE_SIZE}),
        "reconcile collections": cost_of(ops.PROJECT, {"perPage": ops.PAGE_SIZE}),
        "reconcile batch of 50": cost_of(batch(50)),
    }
    assert costs == {
        "sdk GetEntityAutomations": 2_851,
        "sdk GetEntityAutomations, largest page": 57_001,
        "sdk GetEntityAutomationsLegacy": 26_351,
        "sdk IntegrationsByEntity": 751,
        "sdk CreateAutomation": 53,
        "reconcile listing": 4_601,
        "reconcile legacy listing": 41_701,
        "reconcile collections": 903,
        "reconcile batch of 50": 150,
    }
    assert max(costs.values()) <= cost.MAX_COST // 8


def test_pages_multiply_by_page_size_and_aliases() -> None:
    # The entity, then per automation: its connection, edge and node, and fragment T's
    # 26 fields (both sides of each union counted).
    assert cost_of(pages(1)) == 1 + 1000 * (3 + 26)
    assert cost_of(pages(17)) == 1 + 17 * 29_000
    assert cost_of(pages(1, first=10)) == 1 + 10 * 29
    # Absent `first` is the default page; variables count as sent; null is absent.
    query = (
        'query ($n: Int) { entity(name: "x") { triggers(first: $n) { edges { node { id } } } } }'
    )
    assert cost_of(query, {"n": 7}) == 1 + 4 * 7
    assert cost_of(query, {"n": None}) == 1 + 4 * 50
    assert cost_of(query, {"n": 10**9}) == 1 + 4 * 1000
    # A value that is not an integer counts as the largest page, whatever execution does.
    assert cost_of(query, {"n": 1000.0}) == 1 + 4 * 1000
    with pytest.raises(cost.TooExpensive, match="budget of 500000"):
        cost_of(pages(18))


def test_unpaged_lists_count_their_documented_size() -> None:
    query = 'query { project(name: "p") { triggers { id name } } }'
    assert cost_of(query) == 1 + 10 * 3  # the list's 10, then two leaves per item
    members = 'query { entity(name: "x") { members { id } secrets { name } } }'
    assert cost_of(members) == 1 + 100 * 2 + 100 * 2


def test_the_run_time_meter_example_is_admitted_before_it_runs() -> None:
    read = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ ...T }} }}'
    query = "query { " + " ".join(f"p{i}: {read}" for i in range(60)) + " }" + TRIGGER_FIELDS
    assert cost_of(query) == 60 * (1 + 10 * (1 + 26))  # see test_serve_limits
