"""`apply --only KIND/ENTITY/NAME`: one object applied in an emergency, and only the
reviewed plan made with the same selection (`plan --only`)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from reconcile.cli import cli
from tests.apply import test_session
from tests.apply.test_session import edit, run

workdir = test_session.workdir
SELECTED = "automation/ml-platform/route-to-staging"
HEAD = "Target: the embedded server (.reconcile/server.db); entities: ml-platform\n"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _two_edits(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    examples = workdir / "automations/examples"
    edit(examples / "staging-vs-production.yaml", "at_least: 0.90", "at_least: 0.92")
    edit(examples / "run-failed.yaml", "description: Page the team", "description: Now page")


def test_plan_only_narrows_the_plan_and_says_how_to_apply_it(workdir: Path) -> None:
    _two_edits(workdir)
    planned = invoke("plan", "--only", SELECTED, "--format", "json")
    document = json.loads(planned.output)
    assert document["only"] == [SELECTED]
    assert [c["name"] for c in document["changes"]] == ["route-to-staging"]
    fingerprint = document["fingerprint"]
    text = invoke("plan", "--only", SELECTED)
    assert (text.exit_code, text.output) == (
        0,
        HEAD + f"Only {SELECTED}: apply it with `reconcile apply --only {SELECTED} "
        f"--fingerprint {fingerprint[:12]}`\n"
        "Plan: 0 to create, 1 to update, 0 to delete.\n"
        "\n"
        "  ~ automation ml-platform/route-to-staging\n"
        "      ~ when.run_metric.at_least: 0.9 -> 0.92\n"
        "\n"
        f"Fingerprint: {fingerprint}\n",
    )


def test_apply_only_takes_only_the_plan_made_with_the_same_selection(workdir: Path) -> None:
    _two_edits(workdir)
    whole = json.loads(invoke("plan", "--format", "json").output)["fingerprint"]
    narrowed = json.loads(invoke("plan", "--only", SELECTED, "--format", "json").output)
    unreviewed = invoke("apply", "--only", SELECTED, "--auto-approve")
    assert (unreviewed.exit_code, unreviewed.output) == (
        2,
        HEAD + "error: --only applies a reviewed plan only: give --fingerprint (or --plan) "
        "of a plan made with the same --only selection\n",
    )
    other = invoke("apply", "--only", SELECTED, "--fingerprint", whole)
    assert other.exit_code == 3
    assert other.output.splitlines()[-1] == (
        "  (--only applies a plan made with the same selection: "
        f"`reconcile plan --only {SELECTED}`)"
    )
    assert json.loads(invoke("plan", "--format", "json").output)["summary"]["update"] == 2
    applied = invoke("apply", "--only", SELECTED, "--fingerprint", narrowed["fingerprint"])
    assert (applied.exit_code, applied.output.splitlines()[-1]) == (
        0,
        "1 applied, 0 failed, 0 not attempted.",
    )
    left = json.loads(invoke("plan", "--format", "json").output)
    assert [c["name"] for c in left["changes"]] == ["alert-on-failed-training-run"]


def test_a_selection_must_name_an_object(workdir: Path) -> None:
    bad = invoke("plan", "--only", "automation/ml-platform")
    assert bad.exit_code == 2
    assert bad.output.splitlines()[-1] == (
        "Error: Invalid value for --only: automation/ml-platform: give KIND/ENTITY/NAME, "
        "KIND one of secret, webhook, automation (for example "
        "automation/ml-platform/page-on-failure)"
    )
    unknown = invoke("plan", "--only", "automation/ml-platform/nope")
    assert (unknown.exit_code, unknown.output) == (
        2,
        "error: --only automation/ml-platform/nope: neither in the inventory nor on the "
        "embedded server (.reconcile/server.db)\n",
    )
