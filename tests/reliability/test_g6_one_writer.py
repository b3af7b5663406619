"""G6 one writer at a time: a second apply refuses naming the holder; stale locks need unlock."""

from __future__ import annotations

import signal
import subprocess
import threading

from tests.reliability.conftest import TIMEOUT, Stack, generated, use_inventory
from tests.reliability.proxy import Request, Rule, writes

HELD = "another apply holds the lock of entity 'ml-platform'"
LOCK = "reconcile-lock"


def _first_change(request: Request) -> bool:
    return request.mutation and not request.lock


def _names(stack: Stack) -> list[str]:
    """The names of the entity's automations and webhooks (the lock is a webhook)."""
    hooks = [n["name"] for n in stack.integrations() if "name" in n]  # Slack ones have none
    return [t["name"] for t in stack.triggers()] + hooks


def _race(stack: Stack) -> tuple[subprocess.CompletedProcess[str], int, int]:
    """A second apply while the first waits on its first change; both exit codes and pid."""
    hold = stack.proxy.add(Rule(_first_change, "hold"))
    first = stack.popen("apply", "--auto-approve", "--prune")
    try:
        assert hold.reached.wait(TIMEOUT), "the first apply never reached its first change"
        second = stack.run("apply", "--auto-approve", "--prune")
    finally:
        hold.release.set()
        first.communicate(timeout=TIMEOUT)
    return second, first.returncode, first.pid


def test_a_second_apply_refuses_naming_the_holder(stack: Stack) -> None:
    second, first_code, first_pid = _race(stack)
    assert second.returncode == 1, second.stderr
    assert HELD in second.stderr
    assert f"pid {first_pid} since " in second.stderr
    assert "Traceback" not in second.stderr
    assert first_code == 0
    assert LOCK not in _names(stack)
    assert stack.plan().plan.changes == ()


def test_an_apply_without_automations_still_takes_the_lock(stack: Stack) -> None:
    use_inventory(stack, generated(automations=3))
    stack.apply()
    use_inventory(stack, generated(automations=0))
    second, first_code, first_pid = _race(stack)
    assert first_code == 0
    assert second.returncode == 1, second.stdout
    assert f"pid {first_pid} since " in second.stderr


def test_a_killed_apply_keeps_its_lock_until_unlock(stack: Stack) -> None:
    started = threading.Event()
    procs: list[subprocess.Popen[str]] = []

    def kill(_: Request) -> None:
        assert started.wait(TIMEOUT)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(TIMEOUT)

    stack.proxy.add(Rule(lambda r: r.lock, "after", callback=kill))
    procs.append(stack.popen("apply", "--auto-approve"))
    started.set()
    procs[0].communicate(timeout=TIMEOUT)
    assert procs[0].returncode == -signal.SIGKILL
    assert _names(stack) == [LOCK]
    for _ in range(2):  # refused, and the refusal does not break the lock
        refused = stack.run("apply", "--auto-approve")
        assert refused.returncode == 1
        assert f"{HELD}: " in refused.stderr
        assert f"pid {procs[0].pid} since " in refused.stderr
        assert "`reconcile unlock --entity ml-platform`" in refused.stderr
        assert _names(stack) == [LOCK]
    unlocked = stack.run("unlock", "--entity", "ml-platform")
    assert unlocked.returncode == 0
    assert "removed the lock of entity ml-platform, held by " in unlocked.stdout
    assert f"pid {procs[0].pid}" in unlocked.stdout
    applied = stack.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert LOCK not in _names(stack)
    assert stack.run("unlock", "--entity", "ml-platform").stdout == (
        "entity ml-platform is not locked\n"
    )


def test_a_failed_apply_releases_its_lock(stack: Stack) -> None:
    """A change the server refuses: the apply fails, and the next one needs no unlock."""
    stack.proxy.add(Rule(writes("createFilterTrigger"), "status", status=400, times=None))
    failed = stack.run("apply", "--auto-approve")
    assert failed.returncode == 1, failed.stderr
    assert "FAILED" in failed.stdout
    assert [r.operation for r in stack.proxy.mutations(lock=True)] == [
        "AcquireApplyLock",
        "ReleaseApplyLock",
    ]
    assert LOCK not in _names(stack)
    stack.proxy.clear()
    again = stack.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stderr
    assert stack.plan().plan.changes == ()


def test_an_apply_stopped_under_its_lock_releases_it(stack: Stack) -> None:
    """A secret's variable is unset: found only once the lock is held; it is released."""
    stopped = stack.run("apply", "--auto-approve", DEPLOY_TOKEN="")
    assert stopped.returncode == 2, stopped.stderr
    assert "set these environment variables before apply: DEPLOY_TOKEN" in stopped.stderr
    assert [r.operation for r in stack.proxy.mutations()] == [
        "AcquireApplyLock",
        "ReleaseApplyLock",
    ]
    assert LOCK not in _names(stack)
    again = stack.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stderr
