"""The dict executor answers exactly as graphql-core's own executor does."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import ExecutionContext, execute_sync, parse

# A dev dependency, imported outright: without it the suite fails here, it never skips.
from wandb.automations._generated import operations as wandb_ops

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
