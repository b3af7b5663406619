"""What the outbox records of an attempt: an answer's excerpt masked before it is cut."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from reconcile.server.runtime.outbox import EXCERPT
from tests.runtime.faults import Received
from tests.server.helpers import World, basic, trigger_input
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    TOKEN,
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
)

LEAD = EXCERPT - 6  # the cut falls 6 characters into the token


class EchoAtTheCut(Receiver):
    """Answers 400 (not retried) with the token placed where history's cut falls, and its path."""

    async def _answer(self, got: Received, writer: Any) -> bool:
        token = got.headers["authorization"].removeprefix("Bearer ")
        body = ("x" * LEAD + token + " at " + got.path).encode()
        writer.write(b"HTTP/1.1 400 X\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        return True


@pytest.fixture
def echoing() -> Iterator[EchoAtTheCut]:
    with EchoAtTheCut() as running:
        yield running


def test_a_token_split_by_the_cut_leaves_no_prefix_in_history(
    world: World, echoing: EchoAtTheCut, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "1")  # a busy machine: no timeout
    hook = hook_with_secrets(world, echoing.url("/hooks/split"))
    alias_automation(world.admin, world.project_id, hook, "promote")
    assert emit(world, alias_event("cut")).status_code == 202
    assert drain(world, timeout=60) == 0
    answer = world.client.request("GET", "/api/v1/deliveries", headers=basic(world.admin.key))
    (delivery,) = answer.json()["deliveries"]
    attempts = delivery["attempts"]
    assert [(a["status"], a["error"]) for a in attempts] == [(400, "status")]
    assert TOKEN[:6] == "token-"
    assert attempts[0]["excerpt"] == "x" * LEAD + "*** at"
    assert len(attempts[0]["excerpt"]) == EXCERPT


def test_a_variable_of_another_event_is_delivered_blank(world: World, receiver: Receiver) -> None:
    """An SDK-made alias automation whose payload names a run variable: W&B sends it blank."""
    hook = hook_with_secrets(world, receiver.url("/hooks/blank"))
    made = trigger_input(world.project_id, hook, name="blank")
    made["input"]["eventFilter"] = json.dumps(
        {"$or": [{"$and": [{"alias": {"$regex": "^prod$"}}]}]}
    )
    action = made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]
    action["requestPayload"] = '{"run": "${run_name}.", "alias": "${alias}"}'
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )
    assert emit(world, alias_event("blank-1")).status_code == 202
    assert drain(world, timeout=60) == 0
    (got,) = receiver.requests
    assert json.loads(got.body) == {"run": ".", "alias": "prod"}
