"""G5 reviewed = applied: drift between review and apply is refused (exit 3), nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from reconcile.client import operations as ops
from tests.reliability.conftest import Stack
from tests.reliability.proxy import Request, Rule, operation


def _move_webhook(stack: Stack) -> None:
    fields = {
        "id": stack.webhook_id("staging-deploy"),
        "urlEndpoint": "https://elsewhere.example.com/x#managed-by-reconcile",
    }
    stack.gql(ops.UPDATE_WEBHOOK, {"input": fields})


def _add_unmanaged(stack: Stack) -> None:
    stack.create_trigger("made-by-hand")


DRIFTS: dict[str, Callable[[Stack], None]] = {
    "webhook-changed": _move_webhook,
    "unmanaged-appeared": _add_unmanaged,
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
@pytest.mark.parametrize("how", ["--fingerprint", "--plan"])
def test_drift_after_review_is_refused_with_no_write(stack: Stack, drift: str, how: str) -> None:
    stack.apply()
    reviewed = stack.invoke("plan", "--out", "plan.json")
    assert reviewed.exit_code == 0, reviewed.output
    fingerprint = json.loads((stack.work / "plan.json").read_text("utf-8"))["fingerprint"]
    DRIFTS[drift](stack)
    before = (stack.triggers(), stack.integrations())
    stack.proxy.clear()
    result = stack.invoke("apply", how, fingerprint if how == "--fingerprint" else "plan.json")
    assert result.exit_code == 3, result.output
    assert "refused: the plan has changed since it was reviewed" in result.output
    # Refused before the lock is even taken: not a single write.
    assert stack.proxy.mutations() == []
    assert (stack.triggers(), stack.integrations()) == before


def test_the_reviewed_plan_is_applied(stack: Stack) -> None:
    reviewed = stack.invoke("plan", "--format", "json")
    fingerprint = json.loads(reviewed.output)["fingerprint"]
    result = stack.invoke("apply", "--fingerprint", fingerprint)
    assert result.exit_code == 0, result.output
    assert sum(stack.proxy.written().values()) == 28


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_while_the_lock_is_taken_is_refused_under_the_lock(stack: Stack, drift: str) -> None:
    """The server changes after the first check passed, just before the lock is taken."""
    stack.apply()
    reviewed = stack.invoke("plan", "--format", "json")
    fingerprint = json.loads(reviewed.output)["fingerprint"]
    stack.proxy.clear()
    seen: list[object] = []

    def change_the_server(_: Request) -> None:
        DRIFTS[drift](stack)
        seen.append((stack.triggers(), stack.integrations()))

    racing = stack.proxy.add(
        Rule(operation("AcquireApplyLock"), "before", callback=change_the_server)
    )
    result = stack.invoke("apply", "--fingerprint", fingerprint)
    assert racing.used == 1  # the first check passed: the drift came after it
    assert result.exit_code == 3, result.output
    assert "refused: the plan has changed since it was reviewed" in result.output
    assert stack.proxy.mutations(lock=False) == []
    taken = [r.operation for r in stack.proxy.mutations(lock=True)]
    assert taken == ["AcquireApplyLock", "ReleaseApplyLock"]
    assert [(stack.triggers(), stack.integrations())] == seen  # the lock is gone too
