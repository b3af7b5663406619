"""The static cost of operations: what it counts, and what the SDK and reconcile send."""

from __future__ import annotations

from typing import Any

import pytest
import wandb.automations._generated.operations as sdk
from graphql import GraphQLList, GraphQLObjectType, get_named_type, get_nullable_type

from reconcile.client import operations as ops
from reconcile.core import features
from reconcile.server.api import cost, present
from reconcile.server.api.graph import Documents, load_schema
from reconcile.server.store import automations as hooks
from reconcile.server.store.teams import find_project
from tests.server.admin.test_serve_limits import TRIGGER_FIELDS, _populate, pages
from tests.server.helpers import TEAM, World, trigger_input, webhook

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


def test_what_the_sdk_and_reconcile_send_costs_under_a_quarter_of_the_budget() -> None:
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
        "reconcile listing, large pages": cost_of(
            ops.ENTITY_TRIGGERS, {"perPage": features.LARGE_PAGE_SIZE}
        ),
        "reconcile legacy listing": cost_of(ops.ENTITY_TRIGGERS_LEGACY, {"perPage": ops.PAGE_SIZE}),
        "reconcile collections": cost_of(ops.PROJECT, {"perPage": ops.PAGE_SIZE}),
        "reconcile batch of 50": cost_of(batch(50)),
    }
    assert costs == {
        "sdk GetEntityAutomations": 5_860,
        "sdk GetEntityAutomations, largest page": 116_060,
        "sdk GetEntityAutomationsLegacy": 58_860,
        "sdk IntegrationsByEntity": 3_760,
        "sdk CreateAutomation": 112,
        "reconcile listing": 10_660,
        "reconcile listing, large pages": 106_060,
        "reconcile legacy listing": 107_660,
        "reconcile collections": 6_862,
        "reconcile batch of 50": 3_100,
    }
    assert max(costs.values()) < cost.MAX_COST // 4


def test_pages_multiply_by_page_size_and_aliases() -> None:
    # The entity (read: 60), then per automation: its row read (60), its edge and node,
    # and fragment T's 26 fields (both sides of each union counted).
    assert cost_of(pages(1)) == 60 + 1000 * (60 + 2 + 26)
    assert cost_of(pages(5)) == 60 + 5 * 88_000
    assert cost_of(pages(1, first=10)) == 60 + 10 * 88
    # Absent `first` is the default page; variables count as sent; null is absent.
    query = (
        'query ($n: Int) { entity(name: "x") { triggers(first: $n) { edges { node { id } } } } }'
    )
    assert cost_of(query, {"n": 7}) == 60 + 7 * 63
    assert cost_of(query, {"n": None}) == 60 + 50 * 63
    assert cost_of(query, {"n": 10**9}) == 60 + 1000 * 63
    # A value that is not an integer counts as the largest page, whatever execution does.
    assert cost_of(query, {"n": 1000.0}) == 60 + 1000 * 63
    with pytest.raises(cost.TooExpensive, match="budget of 500000"):
        cost_of(pages(6))


def test_unpaged_lists_count_their_documented_size() -> None:
    query = 'query { project(name: "p") { triggers { id name } } }'
    assert cost_of(query) == 60 + 10 * (60 + 2)  # the list's 10 rows, two leaves each
    members = 'query { entity(name: "x") { members { id } secrets { name } } }'
    assert cost_of(members) == 60 + 100 * (60 + 1) + 100 * (60 + 1)


def test_the_run_time_meter_example_is_admitted_before_it_runs() -> None:
    read = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ ...T }} }}'
    query = "query { " + " ".join(f"p{i}: {read}" for i in range(60)) + " }" + TRIGGER_FIELDS
    assert cost_of(query) == 60 * (60 + 10 * (60 + 26))  # see test_serve_limits


def _project_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The `limit` of every read of a project's automations, as they happen."""
    limits: list[int] = []
    real = hooks.triggers_in_project

    def spy(con: Any, project_id: int, limit: int = -1) -> Any:
        limits.append(limit)
        return real(con, project_id, limit)

    monkeypatch.setattr(hooks, "triggers_in_project", spy)
    return limits


def test_a_project_list_is_read_no_further_than_the_budget_can_take(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = _project_reads(monkeypatch)
    query = (
        f'query {{ a: project(name: "vision", entityName: "{TEAM}") {{ triggers {{ id }} }}'
        f' b: project(name: "vision", entityName: "{TEAM}") {{ triggers {{ id }} }} }}'
    )
    assert cost_of(query) == 2 * (60 + 10 * 61)
    assert world.member.ok(query) == {"a": {"triggers": []}, "b": {"triggers": []}}
    # Spent 1,360 before it runs; each row costs 61; 10 rows were counted per list.
    assert limits == [10 + (500_000 - 1_360) // 61 + 1] * 2


def test_a_project_list_longer_than_the_budget_can_take_is_refused_unread(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(world.db, 400)
    limits = _project_reads(monkeypatch)
    read = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ ...T }} }}'
    query = "query { " + " ".join(f"p{i}: {read}" for i in range(60)) + " }" + TRIGGER_FIELDS
    response = world.member.post(query)
    assert response.status_code == 400
    answer = response.json()
    assert answer["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    # As in test_serve_limits: 13 lists are read whole; the 14th may take 112 rows and
    # has 400, so it is refused on its count; none after it is looked at.
    assert len(limits) == 13
    assert [name for name, value in answer["data"].items() if value is not None] == [
        f"p{i}" for i in range(13)
    ]


def test_every_list_of_the_schema_has_a_counted_size() -> None:
    """A list is paginated (`first`), a connection's edges, or has a size in UNPAGED."""
    uncounted = []
    for type_ in SCHEMA.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            kind = get_nullable_type(field.type)  # type: ignore[arg-type]
            edges = type_.name.endswith("Connection") and name == "edges"
            if "first" in field.args or edges or (type_.name, name) in cost.UNPAGED:
                continue
            if isinstance(kind, GraphQLList) or get_named_type(field.type).name.endswith(
                "Connection"
            ):
                uncounted.append(f"{type_.name}.{name}")
    assert uncounted == []
    assert cost.UNPAGED[("ServerInfo", "features")] == len(present.FEATURES)


def test_a_project_lists_count_is_its_length_with_its_collections_automations(
    world: World,
) -> None:
    _populate(world.db, 3)
    made = (
        "mutation ($input: CreateFilterTriggerInput!) {"
        " createFilterTrigger(input: $input) { trigger { id } } }"
    )
    scoped = trigger_input(world.collection_id, webhook(world.admin), name="c1")
    scoped["input"]["scopeType"] = "ARTIFACT_COLLECTION"
    world.admin.ok(made, scoped)
    with world.db.read() as con:
        project = find_project(con, TEAM, "vision")
        assert project is not None
        listed = hooks.triggers_in_project(con, project.id)
        counted = hooks.count_triggers_in_project(con, project.id)
    assert sorted(t.name for t in listed) == ["bulk-0000", "bulk-0001", "bulk-0002", "c1"]
    assert counted == 4
