"""G7 crash consistency: SIGKILL an apply after its k-th mutation, for every k; then converge."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest

from reconcile.apply import session
from reconcile.apply.lock import LockHeld
from tests.reliability.conftest import TIMEOUT, Stack, generated, serving, use_inventory
from tests.reliability.proxy import Request, Rule

LOCK = "reconcile-lock"
INVENTORY = generated(automations=4, webhooks=2, secrets=2)


def _mutating(request: Request) -> bool:
    return request.mutation


def _killed_after(stack: Stack, k: int) -> subprocess.Popen[str]:
    """An apply (one change at a time) SIGKILLed once its k-th mutation request is answered."""
    started = threading.Event()
    procs: list[subprocess.Popen[str]] = []

    def kill(_: Request) -> None:
        assert started.wait(TIMEOUT)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(TIMEOUT)

    stack.proxy.add(Rule(_mutating, "after", skip=k - 1, callback=kill))
    procs.append(stack.popen("apply", "--auto-approve", "--concurrency", "1"))
    started.set()
    procs[0].communicate(timeout=TIMEOUT)
    return procs[0]


def _assert_converged(stack: Stack) -> None:
    """No changes left, no duplicates, and nothing on the server outside the inventory."""
    inventory = stack.inventory()
    assert stack.plan(inventory).plan.changes == ()
    triggers = Counter(t["name"] for t in stack.triggers())
    hooks = Counter(i["name"] for i in stack.integrations() if "urlEndpoint" in i)
    assert triggers == Counter(a.name for a in inventory.automations)
    assert hooks == Counter(w.name for w in inventory.webhooks)
    assert sorted(stack.secret_names()) == sorted(s.name for s in inventory.secrets)


def _mutation_requests(tmp_path: Path) -> int:
    with serving(tmp_path / "reference") as stack:
        use_inventory(stack, INVENTORY)
        done = stack.run("apply", "--auto-approve", "--concurrency", "1")
        assert done.returncode == 0, done.stderr
        _assert_converged(stack)
        return len(stack.proxy.mutations())


def test_a_kill_after_any_mutation_then_apply_converges(tmp_path: Path) -> None:
    total = _mutation_requests(tmp_path)
    assert total >= 4  # the lock, a secret, a webhook, an automation batch, the lock
    for k in range(1, total + 1):
        with serving(tmp_path / f"k{k}") as stack:
            use_inventory(stack, INVENTORY)
            killed = _killed_after(stack, k)
            assert killed.returncode == -signal.SIGKILL, k
            assert len(stack.proxy.mutations()) == k
            _recover(stack, killed.pid, lock_left=k < total)
            _assert_converged(stack)


def _recover(stack: Stack, pid: int, *, lock_left: bool) -> None:
    """A left lock refuses the next apply until it is removed on purpose; then apply."""
    names = [node.get("name") for node in stack.integrations()]
    assert (LOCK in names) == lock_left
    if lock_left:
        with pytest.raises(LockHeld, match=f"pid {pid} since "):
            stack.apply()
        holder = asyncio.run(session.unlock(stack.direct, "ml-platform"))
        assert holder is not None
        assert f"pid {pid} since " in holder
    _, report = stack.apply()
    assert report.ok, report.failed
