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
from tests.server.helpers import World, basic
from tests.server.runtime.support import failed_run, run_url_automation


def test_events_are_rendered_with_wandb_links_and_a_refused_query_is_named(
    world: World, tmp_path: Path
) -> None:
    run_url_automation(world)
    raw = json.dumps({"events": [failed_run("f1", "r1")]}).encode()
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
