"""The runtime on the embedded database, called in this process (`reconcile emit`,
`history`, `redeliver` without a server): events rendered with W&B's links, and the
history's refusals named as the server would name them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from reconcile.core.errors import ServerError
from reconcile.server.runtime.local import LocalRuntime
from tests.server.helpers import World, basic, trigger_input
from tests.server.runtime.support import hook_with_secrets

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""


def test_events_are_rendered_with_wandb_links_and_a_refused_query_is_named(
    world: World, tmp_path: Path
) -> None:
    made = trigger_input(
        world.project_id,
        hook_with_secrets(world, "https://a.example"),
        name="failures",
        triggeringEventType="RUN_STATE",
        eventFilter=json.dumps({"run_filter": "{}", "run_state_filter": {"states": ["FAILED"]}}),
    )
    made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        '{"run": "${run_url}"}'
    )
    world.admin.ok(CREATE, made)
    event = {"type": "run_state", "entity": "acme", "project": "vision", "state": "failed"}
    raw = json.dumps({"events": [{**event, "id": "f1", "run": {"id": "r1"}}]}).encode()
    runtime = LocalRuntime(tmp_path / "server.db", basic(world.admin.key)["Authorization"])
    try:
        sent = asyncio.run(runtime.send_events(raw))
        (delivery,) = asyncio.run(runtime.deliveries({}))
        with pytest.raises(ServerError) as refused:
            asyncio.run(runtime.deliveries({"limit": "1001"}))
    finally:
        runtime.close()
    assert sent == (202, {"events": [{"id": "f1", "automations": ["failures"]}]})
    assert json.loads(delivery["body"]) == {"run": "https://wandb.ai/acme/vision/runs/r1"}
    assert str(refused.value) == "limit must be a whole number from 1 to 1000"
