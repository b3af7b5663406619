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


def test_what_the_sdk_and_reconcile_send_costs_a_fifth_of_the_budget_at_most() -> None:
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
        "sdk GetEntityAutomations": 4_840,
        "sdk GetEntityAutomations, largest page": 96_040,
        "sdk GetEntityAutomationsLegacy": 47_840,
        "sdk IntegrationsByEntity": 2_740,
        "sdk CreateAutomation": 92,
        "reconcile listing": 8_540,
        "reconcile legacy listing": 84_640,
        "reconcile collections": 4_842,
        "reconcile batch of 50": 2_100,
    }
    assert max(costs.values()) <= cost.MAX_COST // 5


def test_pages_multiply_by_page_size_and_aliases() -> None:
    # The entity (read: 40), then per automation: its row read (40), its edge and node,
    # and fragment T's 26 fields (both sides of each union counted).
    assert cost_of(pages(1)) == 40 + 1000 * (40 + 2 + 26)
    assert cost_of(pages(7)) == 40 + 7 * 68_000
    assert cost_of(pages(1, first=10)) == 40 + 10 * 68
    # Absent `first` is the default page; variables count as sent; null is absent.
    query = (
        'query ($n: Int) { entity(name: "x") { triggers(first: $n) { edges { node { id } } } } }'
    )
    assert cost_of(query, {"n": 7}) == 40 + 7 * 43
    assert cost_of(query, {"n": None}) == 40 + 50 * 43
    assert cost_of(query, {"n": 10**9}) == 40 + 1000 * 43
    # A value that is not an integer counts as the largest page, whatever execution does.
    assert cost_of(query, {"n": 1000.0}) == 40 + 1000 * 43
    with pytest.raises(cost.TooExpensive, match="budget of 500000"):
        cost_of(pages(8))


def test_unpaged_lists_count_their_documented_size() -> None:
    query = 'query { project(name: "p") { triggers { id name } } }'
    assert cost_of(query) == 40 + 10 * (40 + 2)  # the list's 10 rows, two leaves each
    members = 'query { entity(name: "x") { members { id } secrets { name } } }'
    assert cost_of(members) == 40 + 100 * (40 + 1) + 100 * (40 + 1)


def test_the_run_time_meter_example_is_admitted_before_it_runs() -> None:
    read = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ ...T }} }}'
    query = "query { " + " ".join(f"p{i}: {read}" for i in range(60)) + " }" + TRIGGER_FIELDS
    assert cost_of(query) == 60 * (40 + 10 * (40 + 26))  # see test_serve_limits
