"""R7: a hanging endpoint does not delay deliveries to another."""

from __future__ import annotations

from reconcile.runtime.sender import Limits
from tests.server.helpers import World
from tests.server.runtime.receiver import HANG_LIMIT, Receiver
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
# A bound against a hang only: what shows isolation is that every healthy delivery is
# made while no hanging attempt has ended (none can before the receiver lets go of it).
BOUND = 300.0


def test_a_hanging_endpoint_does_not_delay_another(world: World, receiver: Receiver) -> None:
    slow = hook_with_secrets(world, receiver.url("/hang"), "slow")
    with Receiver() as healthy:
        fast = hook_with_secrets(world, healthy.url("/ok"), "fast")
        alias_automation(world.admin, world.project_id, slow, "to-slow", pattern="^slow$")
        alias_automation(world.admin, world.project_id, fast, "to-fast", pattern="^fast$")
        emit(world, {"events": [alias_event(f"s{n}", "slow") for n in range(HANGING)]})
        emit(world, {"events": [alias_event(f"f{n}", "fast") for n in range(HEALTHY)]})

        def fast_done() -> bool:
            return statuses(world).get("to-fast") == ["delivered"] * HEALTHY

        # The hanging attempts outlast the test: the receiver holds them until it stops.
        limits = Limits(deadline=HANG_LIMIT * 10)
        assert run_until(world, fast_done, BOUND, limits=limits)
        assert len(healthy.requests) == HEALTHY
        with world.db.read() as con:
            ended = con.execute(
                "SELECT COUNT(*) FROM attempts JOIN deliveries ON deliveries.id = delivery_id"
                " WHERE automation = 'to-slow'"
            ).fetchone()[0]
        assert ended == 0  # no healthy delivery waited for a hanging one to end
    # The hanging endpoint got at most its cap of attempts at once, none finished.
    assert statuses(world)["to-slow"] == ["pending"] * HANGING
    assert 0 < len(receiver.requests) <= 16
