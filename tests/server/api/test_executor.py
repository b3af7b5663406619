"""The dict executor answers exactly as graphql-core's own executor does."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import ExecutionContext, execute_sync, parse

# A dev dependency, imported outright: without it the suite fails here, it never skips.
from wandb.automations._generated import operations as wandb_ops

from reconcile.client import operations as ours
from reconcile.server.admin import tasks as admin
from reconcile.server.api.context import RequestContext
from reconcile.server.api.executor import DictExecutionContext
from reconcile.server.api.graph import load_schema
from reconcile.server.api.ids import encode_id
from reconcile.server.store.teams import find_user
from tests.server.helpers import CREATE_TRIGGER, World, trigger_input, webhook


def _run(world: World, query: str, context_class: type[ExecutionContext], **variables: Any) -> Any:
    with world.db.read() as con:
        user = find_user(con, "admin")
        assert user is not None
        result = execute_sync(
            load_schema(),
            parse(query),
            context_value=RequestContext(con, user, box=None),  # type: ignore[arg-type]
            variable_values=variables,
            execution_context_class=context_class,
        )
    return result.data, [e.formatted for e in result.errors or []]


@pytest.mark.parametrize(
    "query",
    [
        wandb_ops.GET_ENTITY_AUTOMATIONS_GQL,
        wandb_ops.GET_ENTITY_AUTOMATIONS_LEGACY_GQL,
        wandb_ops.INTEGRATIONS_BY_ENTITY_GQL,
        # What `reconcile plan` reads.
        ours.ENTITY_TRIGGERS,
        ours.INTEGRATIONS,
        # Objects inside lists under resolver-backed fields.
        "{ viewer { teams { edges { node { name members { id } } } } } }",
    ],
)
def test_same_answer_as_graphql_core(world: World, query: str) -> None:
    hook_id = webhook(world.admin)
    world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id, hook_id))
    world.admin.ok(
        CREATE_TRIGGER,
        trigger_input(world.collection_id, name="c", scopeType="ARTIFACT_COLLECTION"),
    )
    slack = admin.ensure_slack_integration(world.db, "acme", "alerts")
    notify = trigger_input(world.project_id, name="n", triggeredActionType="NOTIFICATION")
    notify["input"]["triggeredActionConfig"] = {
        "notificationActionInput": {"integrationID": encode_id("Integration", slack.id)}
    }
    world.admin.ok(CREATE_TRIGGER, notify)
    fast = _run(world, query, DictExecutionContext, entity="acme", perPage=10)
    plain = _run(world, query, ExecutionContext, entity="acme", perPage=10)
    assert fast == plain
    assert fast[0] is not None


_SCHEMA = """
type Query { items: [Item!]! one: Item first: Item }
interface Named { name: String! }
type Item implements Named { name: String! child: Item tags: [Tag!] kin: [Named] }
type Tag { label: String! }
"""
_QUERY = (
    "{ items { name child { name child { name } } tags { label } kin { __typename name } }"
    " one { name tags { label } } first: one { __typename name } }"
)


def _item(name: Any, **more: Any) -> dict[str, Any]:
    return {"name": name, "child": None, "tags": [], "kin": [], **more}


@pytest.mark.parametrize(
    "root",
    [
        # Every value as the schema says: no errors.
        {
            "items": [_item("a", child=_item("b", child=_item("c"))), _item("d")],
            "one": _item("e", tags=[{"label": "x"}]),
        },
        # A required leaf missing deep inside a list: the error's path names it.
        {"items": [_item("a"), _item("b", child=_item("c", child=_item(None)))], "one": None},
        # A required item missing from a list, a leaf of the wrong type, a bad typename.
        {
            "items": [_item("a", tags=[{"label": "x"}, None]), _item(7)],
            "one": _item("e", tags=[{"label": ["no"]}]),
        },
        {"items": [_item("a", kin=[{"__typename": "Tag", "label": "t"}, None])], "one": None},
        {"items": [_item("a", kin=[{"__typename": ["Item"], "name": "n"}])], "one": None},
    ],
)
def test_errors_deep_in_plain_dicts_are_answered_as_graphql_core_does(root: Any) -> None:
    from graphql import build_schema

    schema = build_schema(_SCHEMA)
    schema.type_map["Named"].resolve_type = lambda value, *_: value.get("__typename")  # type: ignore[union-attr]

    def run(context_class: type[ExecutionContext]) -> Any:
        result = execute_sync(
            schema, parse(_QUERY), root_value=root, execution_context_class=context_class
        )
        return result.data, [e.formatted for e in result.errors or []]

    fast = run(DictExecutionContext)
    assert fast == run(ExecutionContext)
    assert fast[0] is not None or fast[1]
