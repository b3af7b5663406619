"""Several inventories in one repository (reconcile.yaml): choosing one with --env, --root,
the paths or the working directory, and the messages when the choice is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconcile.cli import cli
from tests.apply import test_session

ROOT = Path(__file__).resolve().parents[2]
workdir = test_session.workdir
PROJECT = """\
inventories:
  prod:
    folder: envs/prod/automations
  staging:
    folder: envs/staging/automations
"""
FAILED_RUN = "envs/prod/automations/examples/run-failed.yaml"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def monorepo(workdir: Path) -> Path:
    """envs/prod and envs/staging, each a copy of the examples, on embedded servers."""
    for env in ("prod", "staging"):
        shutil.copytree(workdir / "automations", workdir / "envs" / env / "automations")
    shutil.rmtree(workdir / "automations")
    (workdir / "reconcile.yaml").write_text(PROJECT, "utf-8")
    return workdir


def test_without_a_choice_the_command_asks_for_one(monorepo: Path) -> None:
    result = run("plan")
    assert (result.exit_code, result.output) == (
        2,
        "error: reconcile.yaml names 2 inventories (prod, staging): choose one with --env NAME\n",
    )


def test_each_inventory_plans_on_its_own_embedded_server(monorepo: Path) -> None:
    result = run("plan", "--env", "prod", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[0] == (
        "Target: the embedded server (.reconcile/prod/server.db); entities: ml-platform; "
        "inventory prod (envs/prod/automations/)"
    )
    assert "Plan: 28 to create, 0 to update, 0 to delete." in result.output
    applied = run("apply", "--env", "prod", "--auto-approve")
    assert applied.output.endswith("28 applied, 0 failed, 0 not attempted.\n")
    # Staging's server is another database: nothing was applied there.
    staging = run("plan", "--root", "envs/staging", "--out", "staging.json")
    assert "Plan: 28 to create, 0 to update, 0 to delete." in staging.output
    target = json.loads(Path("staging.json").read_text())["target"]
    assert target == {
        "embedded": ".reconcile/staging/server.db",
        "entities": ["ml-platform"],
        "creates": target["creates"],
        "env": "staging",
        "inventory": "envs/staging/automations/",
    }


def test_the_paths_choose_the_inventory_and_its_whole_folder_deletes(monorepo: Path) -> None:
    assert run("apply", "--env", "prod", "--auto-approve").exit_code == 0
    Path(FAILED_RUN).unlink()
    result = run("plan", "envs/prod/automations")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:3] == [
        "Plan: 0 to create, 0 to update, 1 to delete.",
        "",
    ]
    assert "  - automation ml-platform/alert-on-failed-training-run" in result.output


def test_a_partial_path_names_its_inventory(monorepo: Path) -> None:
    assert run("apply", "--env", "prod", "--auto-approve").exit_code == 0
    result = run("plan", "envs/prod/automations/examples/team.yaml")
    assert result.exit_code == 0, result.output
    assert (
        "Not considered: 16 managed objects on the server that the paths given do not "
        "declare. The paths are only part of the inventory (envs/prod/automations/), so "
        "nothing is deleted; plan the whole inventory to delete what it no longer declares.\n"
    ) in result.output


def test_the_working_directory_chooses_the_inventory(
    monorepo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(monorepo / "envs" / "staging")
    result = run("validate")
    assert (result.exit_code, result.output) == (
        0,
        "valid: 5 secrets, 7 webhooks, 16 automations\n",
    )
    result = run("plan")
    assert result.output.splitlines()[0] == (
        "Target: the embedded server (../../.reconcile/staging/server.db); "
        "entities: ml-platform; inventory staging (automations/)"
    )


def test_wrong_choices_are_named(monorepo: Path) -> None:
    cases = {
        ("plan", "--env", "prood"): "error: --env prood: reconcile.yaml names no such "
        "inventory (it names prod, staging) (did you mean 'prod'?)\n",
        ("plan", "envs"): "error: the paths are in 2 inventories (prod, staging): give the "
        "paths of one, or choose it with --env NAME\n",
        ("validate", "README.md"): "error: README.md is in no inventory: reconcile.yaml "
        "names prod (envs/prod/automations/), staging (envs/staging/automations/)\n",
        ("plan", "--env", "staging", "envs/prod/automations"): "error: "
        "envs/prod/automations is not in inventory staging (envs/staging/automations/)\n",
        ("plan", "--env", "staging", "--root", "envs/prod"): "error: --root envs/prod is "
        "inventory prod, but --env staging is staging\n",
        ("unlock", "--root", "docs", "--entity", "x"): "error: --root docs: reconcile.yaml "
        "names prod (envs/prod/automations/), staging (envs/staging/automations/)\n",
    }
    for args, message in cases.items():
        result = run(*args)
        assert (result.exit_code, result.output) == (2, message), args


def test_a_server_in_the_project_file_needs_its_key(monorepo: Path) -> None:
    (monorepo / "reconcile.yaml").write_text(
        PROJECT + "    server: https://wandb.example.com\n    api_key_env: STAGING_KEY\n"
    )
    result = run("plan", "--env", "staging")
    assert (result.exit_code, result.output) == (
        2,
        "error: set STAGING_KEY to an API key for https://wandb.example.com "
        "(inventory staging in reconcile.yaml)\n",
    )


def test_an_invalid_project_file_is_named(monorepo: Path) -> None:
    cases = {
        "inventories: {}\n": "reconcile.yaml: inventories: {} should be non-empty",
        "inventories:\n  prod: {folder: a, sever: x}\n": "reconcile.yaml: "
        "inventories.prod: Additional properties are not allowed ('sever' was unexpected)",
        "inventories:\n  Prod: {folder: a}\n": "reconcile.yaml: inventories: 'Prod' does "
        "not match '^[a-z0-9][a-z0-9_-]*$'",
        "inventories:\n  a: {folder: x}\n  b: {folder: x/y}\n": "reconcile.yaml: "
        "inventories a (x/) and b (x/y/) overlap; give each its own folder",
        "inventories: [\n": "reconcile.yaml:2:1: ",
    }
    for text, message in cases.items():
        (monorepo / "reconcile.yaml").write_text(text)
        result = run("validate")
        assert result.exit_code == 2, text
        assert result.output.startswith(f"error: {message}"), (text, result.output)


def test_without_a_project_file_env_is_refused_and_nothing_changes(workdir: Path) -> None:
    result = run("plan", "--env", "prod")
    assert (result.exit_code, result.output) == (
        2,
        "error: --env prod: there is no reconcile.yaml in the project to name inventories in\n",
    )
    result = run("plan", "--out", "plan.json")
    assert result.output.splitlines()[0] == (
        "Target: the embedded server (.reconcile/server.db); entities: ml-platform"
    )
    assert "env" not in json.loads(Path("plan.json").read_text())["target"]


def test_without_a_project_file_a_folder_elsewhere_says_there_is_no_inventory(
    workdir: Path,
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    shutil.move(workdir / "automations", workdir / "envs")
    result = run("plan", "envs/examples/team.yaml")
    assert result.exit_code == 0, result.output
    assert (
        "Not considered: 16 managed objects on the server that the paths given do not "
        "declare. The project has no inventory folder (automations/) and no reconcile.yaml "
        "naming one, so nothing is deleted; name the inventory's folder in reconcile.yaml "
        "to plan it whole.\n"
    ) in result.output


def test_the_repositorys_schema_is_the_one_the_package_checks_with() -> None:
    shipped = ROOT / "src" / "reconcile" / "data" / "project.schema.json"
    assert (ROOT / "schema" / "project.schema.json").read_text() == shipped.read_text()


def test_the_servers_commands_use_the_inventorys_embedded_database(monorepo: Path) -> None:
    result = run("server", "--env", "staging", "create-team", "qa-team")
    assert result.exit_code == 0, result.output
    assert Path(".reconcile/staging/server.db").is_file()
    assert not Path(".reconcile/prod/server.db").exists()
    result = run("server", "--env", "stagin", "create-team", "qa-team")
    assert (result.exit_code, result.output) == (
        2,
        "error: --env stagin: reconcile.yaml names no such inventory (it names prod, "
        "staging) (did you mean 'staging'?)\n",
    )
