"""The project root, the embedded server's place in it, and plans of part of the inventory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.plan.compute import fingerprint
from tests.apply import test_session
from tests.apply.test_session import run

workdir = test_session.workdir
TARGET = "Target: the embedded server ({db}); entities: ml-platform"


def test_a_part_of_the_inventory_never_plans_a_delete(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    part = "automations/examples/run-failed.yaml"
    plan = json.loads(run("plan", part, "--format", "json").output)
    assert plan["summary"] == {"create": 0, "update": 0, "delete": 0}
    assert plan["not_considered"] == 27  # all 28 managed objects but the one in the file
    text = run("plan", part).output
    assert text.splitlines()[1:] == [
        "No changes. The server matches the part of the inventory planned.",
        "",
        "Not considered: 27 managed objects on the server that the paths given do not "
        "declare. The paths are only part of the inventory (automations/), so nothing is "
        "deleted; plan the whole inventory to delete what it no longer declares.",
        "",
        f"Fingerprint: {plan['fingerprint']}",
    ]
    pruned = run("apply", part, "--auto-approve", "--prune")
    assert pruned.output.splitlines()[1:] == ["Nothing to apply."]
    assert run("plan", "--detailed-exitcode").exit_code == 0  # nothing was deleted


def test_only_the_whole_inventory_deletes(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / "automations/examples/run-failed.yaml").unlink()
    for paths in ((), ("automations",), ("automations/examples",)):
        plan = json.loads(run("plan", *paths, "--format", "json").output)
        assert plan["summary"] == {"create": 0, "update": 0, "delete": 1}, paths
        assert "not_considered" not in plan
    part = json.loads(run("plan", "automations/examples/team.yaml", "--format", "json").output)
    # team.yaml declares 5 secrets and 7 webhooks of the 23 managed objects.
    assert (part["summary"]["delete"], part["not_considered"]) == (0, 16)


def test_a_subfolder_uses_the_project_root_and_its_database(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    monkeypatch.chdir(workdir / "automations/examples")
    result = run("plan", ".", "--detailed-exitcode")
    assert (result.exit_code, result.output.splitlines()[:2]) == (
        0,
        [
            TARGET.format(db="../../.reconcile/server.db"),
            "No changes. The server matches the inventory.",
        ],
    )
    assert not (workdir / "automations/examples/.reconcile").exists()
    # With no PATHS, the inventory is the root's automations/ too.
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_git_marks_the_root_when_nothing_else_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "team.yaml").write_text("entity: ml\nsecrets:\n  - name: TOKEN\n", "utf-8")
    monkeypatch.chdir(conf)
    monkeypatch.delenv("RECONCILE_SERVER", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["plan", "team.yaml"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Target: the embedded server (../.reconcile/server.db); entities: ml"
    )
    assert (tmp_path / ".reconcile/server.db").is_file()
    assert (tmp_path / ".reconcile/.gitignore").read_text("utf-8") == "*\n"
    assert not (conf / ".reconcile").exists()


def test_json_plans_name_their_target_outside_the_fingerprint(workdir: Path) -> None:
    plan = json.loads(run("plan", "--format", "json", "--out", "plan.json").output)
    assert plan["target"] == {
        "embedded": ".reconcile/server.db",
        "entities": ["ml-platform"],
        "creates": [
            "project ml-platform/fraud-detection",
            "collection fraud-detector in project ml-platform/fraud-detection",
            "registry ml-platform/model",
            "collection fraud-detector in registry ml-platform/model",
        ],
    }
    saved = json.loads((workdir / "plan.json").read_text("utf-8"))
    assert saved["target"] == plan["target"]
    assert fingerprint(saved) == saved["fingerprint"]  # the saved plan still verifies
    markdown = run("plan", "--format", "markdown").output
    assert markdown.startswith(TARGET.format(db=".reconcile/server.db") + "\nThe embedded server")
    assert "\n- registry ml-platform/model\n" in markdown
    # The same inventory planned through another path to the same database: same plan.
    other = run("plan", "--format", "json", "--db", os.path.abspath(".reconcile/server.db"))
    assert json.loads(other.output)["fingerprint"] == plan["fingerprint"]
    assert run("apply", "--plan", "plan.json").exit_code == 0


def test_a_remote_target_is_named_by_its_url(
    workdir: Path, served: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = served
    monkeypatch.setenv("WANDB_API_KEY", key)
    result = run("plan", "--server", url)
    assert result.output.splitlines()[0] == f"Target: {url}; entities: ml-platform"
    plan = json.loads(run("plan", "--server", url, "--format", "json").output)
    assert plan["target"] == {"server": url, "entities": ["ml-platform"]}
    applied = run("apply", "--server", url, "--auto-approve")
    assert applied.output.splitlines()[0] == f"Target: {url}; entities: ml-platform"


served = test_session.served
