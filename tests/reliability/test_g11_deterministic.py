"""G11 deterministic output: the same inputs give byte-identical plans and exit codes."""

from __future__ import annotations

import json

import pytest

from reconcile.client import operations as ops
from tests.reliability.conftest import Stack


def _drift(stack: Stack) -> None:
    """A plan with creates, updates, deletes, a rename, protected and unmanaged objects."""
    stack.apply()
    examples = stack.work / "automations/examples"
    (examples / "github-dispatch.yaml").unlink()
    (examples / "deploy-on-production.yaml").unlink()
    team = examples / "team.yaml"
    team.write_text(team.read_text("utf-8").replace("rotation: 1", "rotation: 3"), "utf-8")
    loss = examples / "loss-regression.yaml"
    renamed = "  - name: val-loss-rose\n    previously: [val-loss-jumped]\n"
    loss.write_text(loss.read_text("utf-8").replace("  - name: val-loss-jumped\n", renamed))
    for name, old, new in (
        ("throughput-anomaly.yaml", "threshold: 3.0", "threshold: 2.5"),
        ("staging-vs-production.yaml", "at_least: 0.90", "at_least: 0.92"),
    ):
        path = examples / name
        path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")
    stack.create_trigger("made-by-hand")
    fields = {
        "id": stack.webhook_id("staging-deploy"),
        "urlEndpoint": "https://x.example.com/#managed-by-reconcile",
    }
    stack.gql(ops.UPDATE_WEBHOOK, {"input": fields})


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_the_same_inputs_give_byte_identical_plans(stack: Stack, fmt: str) -> None:
    _drift(stack)
    stack.proxy.clear()
    runs = []
    for seed in ("1", "2"):
        args = ("plan", "--detailed-exitcode", "--format", fmt, "--out", f"plan-{seed}.json")
        runs.append(stack.run(*args, PYTHONHASHSEED=seed))
    first, second = runs
    assert first.returncode == second.returncode == 2, first.stderr
    assert first.stdout == second.stdout
    assert first.stderr == second.stderr
    saved = [(stack.work / f"plan-{seed}.json").read_bytes() for seed in ("1", "2")]
    assert saved[0] == saved[1]
    assert b'"action": "delete"' in saved[0]
    assert b'"renamed_from": "val-loss-jumped"' in saved[0]
    assert b'"unmanaged": [' in saved[0]
    assert stack.proxy.mutations() == []
    order = [(c["action"], c["kind"], c["name"]) for c in json.loads(saved[0])["changes"]]
    assert order == ORDER


# Phases in order (secrets, webhooks, automations; then deletes in reverse), by name within.
ORDER = [
    ("update", "secret", "DEPLOY_SIGNING_KEY"),
    ("update", "webhook", "deploy-pipeline"),  # its secret's rotation is recorded on it
    ("update", "webhook", "staging-deploy"),
    ("update", "automation", "route-to-staging"),
    ("update", "automation", "throughput-anomaly"),
    ("update", "automation", "val-loss-rose"),
    ("delete", "automation", "dispatch-candidate-model"),
]
