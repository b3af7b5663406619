"""G3 retries only where safe: counted at the proxy, with the policy's waits scaled to zero."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from reconcile.apply import session
from reconcile.apply.target import Target, connect
from reconcile.client import operations as ops
from reconcile.client.transport import GraphQLError, RetryPolicy, Unreachable
from reconcile.inventory.load import load_inventory
from tests.reliability.conftest import ENTITY, EXAMPLES, FAST, Stack, generated, use_inventory
from tests.reliability.proxy import Rule, operation, writes
from tests.server.live import closed_port

READ = "EntitySecrets"  # read once per entity by every plan


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_retryable_status_is_retried_until_success(stack: Stack, status: int) -> None:
    stack.proxy.add(Rule(operation(READ), "status", status=status, times=3))
    stack.plan()
    assert stack.proxy.count(READ) == 4
    assert [r.outcome for r in stack.proxy.requests if r.operation == READ][-1] == "forwarded"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_client_error_is_never_retried(stack: Stack, status: int) -> None:
    stack.proxy.add(Rule(operation(READ), "status", status=status, times=None))
    with pytest.raises(GraphQLError) as raised:
        stack.plan()
    assert raised.value.status == status
    assert stack.proxy.count(READ) == 1


def test_retries_are_bounded_by_the_policy(stack: Stack) -> None:
    stack.proxy.add(Rule(operation(READ), "status", status=503, times=None))
    with pytest.raises(GraphQLError):
        stack.plan()
    assert stack.proxy.count(READ) == FAST.attempts


SCALE = 1e-4  # every wait shrunk 10,000 times: an hour is 0.36 s


def _waits(stack: Stack, policy: RetryPolicy) -> tuple[list[float], int]:
    """The pauses one read through the proxy made before it succeeded, and its requests."""

    async def read() -> tuple[list[float], int]:
        async with connect(stack.target, policy) as transport:
            await transport.execute(ops.SECRETS, {"entity": ENTITY})
            return transport.waits, transport.requests

    return asyncio.run(read())


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_the_wait_that_is_made(stack: Stack, status: int) -> None:
    headers = {"Retry-After": "7"}
    stack.proxy.add(Rule(operation(READ), "status", status=status, headers=headers, times=2))
    waits, requests = _waits(stack, RetryPolicy(scale=SCALE))
    assert waits == [7 * SCALE, 7 * SCALE]  # not the backoff's: at most 0.5 s, then 1 s
    assert (requests, stack.proxy.count(READ)) == (3, 3)


def test_retry_after_is_honoured_within_its_cap(stack: Stack) -> None:
    """An hour-long Retry-After waits the policy's cap (60 s) instead, and the read succeeds."""
    headers = {"Retry-After": "3600"}
    stack.proxy.add(Rule(operation(READ), "status", status=429, headers=headers, times=2))
    waits, _ = _waits(stack, RetryPolicy(scale=SCALE))
    assert waits == [60 * SCALE, 60 * SCALE]
    assert stack.proxy.count(READ) == 3


def test_without_retry_after_the_backoff_doubles_with_jitter(stack: Stack) -> None:
    stack.proxy.add(Rule(operation(READ), "status", status=503, times=4))
    policy = RetryPolicy(scale=SCALE)
    waits, _ = _waits(stack, policy)
    assert len(waits) == 4
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= policy.base * 2**attempt * SCALE


def test_a_dropped_connection_is_retried_for_reads(stack: Stack) -> None:
    stack.proxy.add(Rule(operation(READ), "reset", times=2))
    stack.plan()
    assert stack.proxy.count(READ) == 3


def test_a_closed_port_gets_bounded_attempts() -> None:
    policy = replace(FAST, attempts=3)
    with closed_port() as port:
        target = Target(f"http://127.0.0.1:{port}", api_key="unused")
        with pytest.raises(Unreachable, match="cannot reach the server"):
            asyncio.run(session.plan(load_inventory([str(EXAMPLES)]), target, policy))

        async def attempts() -> int:
            async with connect(target, policy) as transport:
                with pytest.raises(Unreachable):
                    await transport.execute(ops.VIEWER)
                return transport.requests

        assert asyncio.run(attempts()) == 3


def test_an_update_is_retried_but_a_create_is_sent_once(stack: Stack) -> None:
    """Updates are idempotent and retried; a create that got a 503 is re-read, not resent."""
    use_inventory(stack, generated(automations=2))
    stack.apply()
    text = generated(automations=3).replace("hooks.example.com/0", "hooks.example.com/zero")
    use_inventory(stack, text)
    stack.proxy.clear()
    update = stack.proxy.add(
        Rule(writes("updateGenericWebhookIntegration"), "status", status=503, times=2)
    )
    create = stack.proxy.add(Rule(writes("createFilterTrigger"), "drop", times=1))
    _, report = stack.apply()
    assert report.ok, report
    assert (update.used, create.used) == (2, 1)
    written = stack.proxy.written()
    assert written == {"updateGenericWebhookIntegration": 3, "createFilterTrigger": 1}
    assert sorted(t["name"] for t in stack.triggers()) == ["auto-000", "auto-001", "auto-002"]
