"""R7: a hanging endpoint does not delay deliveries to another."""

from __future__ import annotations

import pytest

from tests.server.helpers import World
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    emit,
    hook_with_secrets,
    run_until,
    statuses,
)

HANGING = 40  # more than the endpoint's cap on attempts in flight
HEALTHY = 20
# Well below the hanging attempts' deadline (15 s at scale 1): were the healthy
# deliveries queued behind them, they could not all be delivered in time.
BOUND = 10.0


def test_a_hanging_endpoint_does_not_delay_another(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "1")
    slow = hook_with_secrets(world, receiver.url("/hang"), "slow")
    with Receiver() as healthy:
        fast = hook_with_secrets(world, healthy.url("/ok"), "fast")
        alias_automation(world.admin, world.project_id, slow, "to-slow", pattern="^slow$")
        alias_automation(world.admin, world.project_id, fast, "to-fast", pattern="^fast$")
        emit(world, {"events": [alias_event(f"s{n}", "slow") for n in range(HANGING)]})
        emit(world, {"events": [alias_event(f"f{n}", "fast") for n in range(HEALTHY)]})

        def fast_done() -> bool:
            return statuses(world).get("to-fast") == ["delivered"] * HEALTHY

        assert run_until(world, fast_done, BOUND)
        assert len(healthy.requests) == HEALTHY
    # The hanging endpoint got at most its cap of attempts at once, none finished.
    assert statuses(world)["to-slow"] == ["pending"] * HANGING
    assert 0 < len(receiver.requests) <= 16
