"""Setting up automations through GraphQL and sending events, as a user would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from reconcile.runtime.sender import Limits
from reconcile.server.runtime import events
from reconcile.server.runtime.outbox import Due
from reconcile.server.runtime.worker import Worker
from tests.server.helpers import TEAM, Api, World, basic, trigger_input, webhook

SECRET = "whsec-canary-signing-value-123"
TOKEN = "token-canary-access-value-456"
PAYLOAD = '{"event": "${event_type}", "alias": "${alias}", "token": "${ACCESS_TOKEN}"}'
INSERT_SECRET = """
mutation ($n: String!, $v: String!) {
  insertSecret(input: {entityName: "acme", secretName: $n, secretValue: $v}) { success }
}
"""


def hook_with_secrets(world: World, url: str, name: str = "deploy") -> str:
    world.admin.ok(INSERT_SECRET, {"n": "SIGNING", "v": SECRET})
    world.admin.ok(INSERT_SECRET, {"n": "TOKEN", "v": TOKEN})
    return webhook(world.admin, name, urlEndpoint=url, secretRef="SIGNING", accessTokenRef="TOKEN")


def alias_automation(
    api: Api,
    scope_id: str,
    hook_id: str,
    name: str = "promote",
    pattern: str = "^prod$",
    **extra: Any,
) -> None:
    made = trigger_input(scope_id, hook_id, name=name, **extra)
    made["input"]["eventFilter"] = json.dumps({"$or": [{"$and": [{"alias": {"$regex": pattern}}]}]})
    made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = PAYLOAD
    api.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )


def run_url_automation(world: World, url: str = "https://a.example") -> None:
    """An automation `failures` on acme's project that fires on a failed run and sends
    `{"run": "${run_url}"}`: the run's link, which names the app's URL."""
    made = trigger_input(
        world.project_id,
        hook_with_secrets(world, url),
        name="failures",
        triggeringEventType="RUN_STATE",
        eventFilter=json.dumps({"run_filter": "{}", "run_state_filter": {"states": ["FAILED"]}}),
    )
    action = made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]
    action["requestPayload"] = '{"run": "${run_url}"}'
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )


def failed_run(event_id: str, run_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "run_state",
        "entity": TEAM,
        "project": "vision",
        "run": {"id": run_id},
        "state": "failed",
    }


def alias_event(event_id: str, alias: str = "prod", collection: str = "detector") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "alias_added",
        "entity": TEAM,
        "project": "vision",
        "collection": collection,
        "artifact": {"type": "model", "version": 3},
        "alias": alias,
    }


def emit(world: World, events: Any, key: str | None = None) -> httpx.Response:
    return world.client.post("/api/v1/events", json=events, headers=basic(key or world.admin.key))


def worker(world: World, allow: tuple[str, ...] = ("127.0.0.1",), **kw: Any) -> Worker:
    """A worker on the schedule's time scale (the suite's 0.01) with a full-size deadline
    per attempt (15 s): a compressed one (0.15 s) turns a slow answer on a busy machine
    into a timeout and an extra attempt. A test of timeouts passes its own `limits`."""
    service = world.client.app.state.service
    kw.setdefault("limits", Limits())
    return Worker(service.db, service.box, allow, **kw)


# A bound against a hang, not a deadline: `drain` returns as soon as the outbox is empty,
# and a test that expects deliveries left pending passes its own.
DRAIN_BOUND = 120.0


def drain(world: World, timeout: float = DRAIN_BOUND, **kw: Any) -> int:
    """Run a worker until the outbox is empty; the number of deliveries still pending."""
    return asyncio.run(worker(world, **kw).drain(timeout))


def run_until(world: World, done: Callable[[], bool], timeout: float, **kw: Any) -> bool:
    """Run a worker until `done()` holds (checked between looks), at most `timeout` s."""

    async def main() -> bool:
        running = worker(world, **kw)
        task = asyncio.ensure_future(running.run())
        try:
            async with asyncio.timeout(timeout):
                while not await asyncio.to_thread(done):
                    await asyncio.sleep(0.02)
            return True
        except TimeoutError:
            return False
        finally:
            running.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return asyncio.run(main())


def statuses(world: World) -> dict[str, list[str]]:
    """Delivery statuses per automation, in creation order."""
    with world.db.read() as con:
        rows = con.execute("SELECT automation, status FROM deliveries ORDER BY id").fetchall()
    found: dict[str, list[str]] = {}
    for automation, status in rows:
        found.setdefault(automation, []).append(status)
    return found


def queued_by(world: World, *event_ids: str) -> list[Due]:
    """The deliveries alias events with these ids queue, as the events API hands them to
    a worker (`events.ingest`, the path of `reconcile emit --db`)."""
    service = world.client.app.state.service
    raw = json.dumps({"events": [alias_event(e) for e in event_ids]}).encode()
    auth = basic(world.admin.key)["Authorization"]
    (status, body), queued = events.ingest(service.db, service.box, auth, raw, "https://wandb.ai")
    assert status == 202, body
    return queued


def wait_until(done: Callable[[], object], bound: float = DRAIN_BOUND) -> bool:
    """Whether `done()` became true within `bound` seconds (a bound against a hang, never
    reached by a passing test)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.005)
    return False
