"""Reviewed plans: fingerprint prefixes, and what apply says when the plan changed."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.plan.reviewed import differences
from tests.apply import test_session
from tests.apply.test_session import edit, run

workdir = test_session.workdir
STAGING = "automations/examples/staging-vs-production.yaml"
TEAM = "automations/examples/team.yaml"


def test_a_printed_prefix_of_12_hex_digits_is_accepted(workdir: Path) -> None:
    fingerprint = run("plan").output.splitlines()[-1].removeprefix("Fingerprint: ")
    assert len(fingerprint) == 64
    result = run("apply", "--fingerprint", fingerprint[:12].upper())
    assert result.exit_code == 0, result.output
    assert result.output.endswith("28 applied, 0 failed, 0 not attempted.\n")


def test_a_prefix_shorter_than_12_is_a_usage_error(workdir: Path) -> None:
    fingerprint = run("plan").output.splitlines()[-1].removeprefix("Fingerprint: ")
    for given in (fingerprint[:11], fingerprint[:11] + "g"):
        result = CliRunner().invoke(cli, ["apply", "--fingerprint", given])
        assert (result.exit_code, result.output) == (
            2,
            f"error: --fingerprint {given}: give the plan's fingerprint, or at least its "
            "first 12 hex digits\n",
        )


def test_a_refused_plan_says_what_differs(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(workdir / STAGING, "at_least: 0.90", "at_least: 0.92")
    edit(workdir / TEAM, "rotation: 1 ", "rotation: 2 ")
    reviewed = json.loads(run("plan", "--format", "json", "--out", "reviewed.json").output)
    assert reviewed["summary"] == {"create": 0, "update": 3, "delete": 0}
    # Then the inventory moves on: one change reverted, one altered, one added.
    edit(workdir / TEAM, "rotation: 2 ", "rotation: 1 ")
    edit(workdir / STAGING, "at_least: 0.92", "at_least: 0.93")
    (workdir / "automations/examples/run-failed.yaml").unlink()
    live = json.loads(run("plan", "--format", "json").output)["fingerprint"]
    refused = CliRunner().invoke(cli, ["apply", "--plan", "reviewed.json"])
    assert refused.exit_code == 3
    assert refused.output.splitlines()[1:] == [
        "refused: the plan has changed since it was reviewed; nothing was applied. "
        "Plan again and review the new plan.",
        f"  reviewed fingerprint: {reviewed['fingerprint']}",
        f"  live fingerprint:     {live}",
        "  added: delete automation ml-platform/alert-on-failed-training-run",
        "  gone: update secret ml-platform/DEPLOY_SIGNING_KEY",
        "  gone: update webhook ml-platform/deploy-pipeline",
        "  altered: update automation ml-platform/route-to-staging (when.run_metric.at_least)",
    ]
    by_prefix = CliRunner().invoke(cli, ["apply", "--fingerprint", reviewed["fingerprint"][:12]])
    assert by_prefix.exit_code == 3
    assert by_prefix.output.splitlines()[2:5] == [
        f"  reviewed fingerprint: {reviewed['fingerprint'][:12]}",
        f"  live fingerprint:     {live}",
        "  (apply --plan FILE, with the reviewed plan, also shows what differs)",
    ]
    after = json.loads(run("plan", "--format", "json").output)
    assert after["fingerprint"] == live  # nothing was applied


def test_names_in_the_differences_cannot_forge_a_line() -> None:
    reviewed = {"changes": []}
    change = {"action": "create", "kind": "automation", "entity": "ml-platform"}
    live = {"changes": [{**change, "name": "x\nadded: create automation ml-platform/\x1b[2K"}]}
    assert differences(reviewed, live) == [
        'added: create automation ml-platform/"x\\nadded: create automation ml-platform/\\u001b[2K"'
    ]
