"""G1 `plan` never writes, and G2 apply-then-plan converges, shown at a recording proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.core.model import Automation, Secret, Webhook
from tests.reliability.conftest import Stack


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((), 0),
        (("--detailed-exitcode",), 2),
        (("--format", "markdown"), 0),
        (("--format", "json", "--out", "plan.json"), 0),
    ],
)
def test_plan_sends_no_mutation(stack: Stack, args: tuple[str, ...], code: int) -> None:
    result = stack.invoke("plan", *args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len(stack.proxy.requests) >= 3  # it did read the server
    assert stack.proxy.mutations() == []


def test_plan_with_updates_and_deletes_sends_no_mutation(stack: Stack) -> None:
    stack.apply()
    (stack.work / "automations/examples/github-dispatch.yaml").unlink()
    team = stack.work / "automations/examples/team.yaml"
    team.write_text(team.read_text("utf-8").replace("rotation: 1", "rotation: 2"), "utf-8")
    stack.proxy.clear()
    result = stack.invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "- automation ml-platform/" in result.output
    assert stack.proxy.requests
    assert stack.proxy.mutations() == []


def test_apply_then_plan_has_no_changes_and_no_mutations(stack: Stack) -> None:
    _, report = stack.apply()
    assert report.ok
    assert len(report.applied) == 28
    stack.proxy.clear()
    planned = stack.plan()
    assert planned.plan.changes == ()
    assert stack.proxy.mutations() == []
    kinds = {type(remote.value) for remote in planned.state.resources if remote.managed}
    assert kinds == {Secret, Webhook, Automation}
    result = stack.invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert stack.proxy.mutations() == []


def test_every_kind_of_change_converges(stack: Stack) -> None:
    stack.apply()
    examples = stack.work / "automations/examples"
    (examples / "github-dispatch.yaml").unlink()
    _edit(examples / "team.yaml", "rotation: 1", "rotation: 2")
    _edit(examples / "team.yaml", "hooks/wandb/staging", "hooks/wandb/stage")
    _edit(
        examples / "loss-regression.yaml",
        "  - name: val-loss-jumped\n",
        "  - name: val-loss-rose\n    previously: [val-loss-jumped]\n",
    )
    _edit(examples / "throughput-anomaly.yaml", "threshold: 3.0", "threshold: 2.5")
    planned = stack.plan()
    assert {c.action for c in planned.plan.changes} == {"update", "delete"}
    assert {c.key.kind for c in planned.plan.changes} == {"secret", "webhook", "automation"}
    _, report = stack.apply(force=True)
    assert report.ok, report
    stack.proxy.clear()
    assert stack.plan().plan.changes == ()
    assert stack.proxy.mutations() == []


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")
