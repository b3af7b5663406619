"""action.yml, the workflows and the pre-commit hook: GitHub's JSON Schemas (offline,
vendored by check-jsonschema), consistency between them, and the action's script run
against the embedded server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "github").glob("*.yml"))
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "scripts" / "github-action.sh"
EXAMPLE_ACTION = "OWNER/reconcile@v0.1.0"
BIN = Path(sys.executable).parent


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return document


def test_the_expected_files_are_checked() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "reconcile.yml"]
    assert [p.name for p in EXAMPLES] == ["apply.yml", "drift.yml", "plan.yml"]


def test_workflows_pass_githubs_workflow_schema() -> None:
    done = check_jsonschema("vendor.github-workflows", *WORKFLOWS, *EXAMPLES)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stderr


def test_the_action_passes_githubs_action_schema() -> None:
    done = check_jsonschema("vendor.github-actions", ACTION)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "plan.yml"
    broken.write_text(
        (ROOT / "examples/github/plan.yml").read_text().replace("runs-on:", "run-on:")
    )
    done = check_jsonschema("vendor.github-workflows", broken)
    assert done.returncode == 1
    assert "plan.yml::$.jobs.plan" in done.stdout


def test_this_repository_runs_the_examples_steps() -> None:
    ours = load(ROOT / ".github/workflows/reconcile.yml")["jobs"]
    names = []
    for example in EXAMPLES:
        for name, job in load(example)["jobs"].items():
            copy = json.loads(json.dumps(ours[name]).replace('"./"', f'"{EXAMPLE_ACTION}"'))
            for key in ("steps", "permissions", "env", "strategy", "needs", "outputs"):
                assert copy.get(key) == job.get(key), (example.name, name, key)
            names.append(name)
    assert sorted(names) == sorted(ours)


def test_the_plan_jobs_hold_read_only_keys_and_the_apply_job_the_writers() -> None:
    keys = {}
    for example in EXAMPLES:
        for name, job in load(example)["jobs"].items():
            env = job.get("env", {})
            keys[name] = {k: v for k, v in env.items() if k.endswith("WANDB_API_KEY")}
    plan_keys = {
        "WANDB_API_KEY": "${{ secrets.WANDB_PLAN_KEY }}",
        "PROD_WANDB_API_KEY": "${{ secrets.PROD_WANDB_PLAN_KEY }}",
        "STAGING_WANDB_API_KEY": "${{ secrets.STAGING_WANDB_PLAN_KEY }}",
    }
    assert keys == {
        "plan-roots": {},
        "plan": plan_keys,
        "drift-roots": {},
        "drift": plan_keys,
        "apply-roots": {},
        "apply": {
            "WANDB_API_KEY": "${{ secrets.WANDB_API_KEY }}",
            "PROD_WANDB_API_KEY": "${{ secrets.PROD_WANDB_API_KEY }}",
            "STAGING_WANDB_API_KEY": "${{ secrets.STAGING_WANDB_API_KEY }}",
        },
    }
    # No workflow-wide key: a job gets only the key it is meant to hold.
    for path in [*WORKFLOWS, *EXAMPLES]:
        assert "WANDB_API_KEY" not in json.dumps(load(path).get("env", {})), path.name


def test_each_inventory_is_a_matrix_entry_and_the_merge_queue_is_planned() -> None:
    for example in EXAMPLES:
        jobs = load(example)["jobs"]
        [(roots_name, roots_job)] = [(n, j) for n, j in jobs.items() if n.endswith("-roots")]
        [main] = [j for n, j in jobs.items() if n != roots_name]
        assert roots_job["steps"][1]["with"] == {"command": "roots"}
        assert main["strategy"]["matrix"]["env"] == (
            f"${{{{ fromJSON(needs.{roots_name}.outputs.roots) }}}}"
        )
        for step in main["steps"]:
            if step.get("uses") == EXAMPLE_ACTION:
                assert step["with"]["env"] == "${{ matrix.env }}", step["name"]
            if "reconcile github" in step.get("run", ""):
                assert '--env "$ENV"' in step["run"], step["name"]
    plan = load(ROOT / "examples/github/plan.yml")
    assert plan[True]["merge_group"] is None  # YAML reads `on:` as true
    [queue] = [s for s in plan["jobs"]["plan"]["steps"] if "github queue" in s.get("run", "")]
    assert queue["if"] == "github.event_name == 'merge_group' && steps.plan.outputs.plan-file != ''"


def _outputs_of(step: dict[str, Any], action_outputs: set[str]) -> set[str] | None:
    if step.get("uses") in ("./", EXAMPLE_ACTION):
        return action_outputs
    if "reconcile github reviewed-fingerprint" in step.get("run", ""):
        return {"fingerprint", "pr"}
    if step.get("run") == "reconcile github roots":
        return {"roots"}
    return None


def test_every_step_output_a_workflow_reads_is_written() -> None:
    action_outputs = set(load(ACTION)["outputs"])
    read = 0
    for path in [*WORKFLOWS, *EXAMPLES]:
        for job in load(path)["jobs"].values():
            steps = {s["id"]: s for s in job["steps"] if "id" in s}
            for step_id, output in re.findall(
                r"steps\.([\w-]+)\.outputs\.([\w-]+)", json.dumps(job)
            ):
                assert _outputs_of(steps[step_id], action_outputs) >= {output}, (path, output)
                read += 1
    assert read == 2 * 22  # the examples and this repository's copy of their steps


def test_the_action_writes_its_outputs_and_never_takes_secrets_as_inputs() -> None:
    action = load(ACTION)
    script = SCRIPT.read_text("utf-8")
    written = set(re.findall(r"output ([\w-]+) ", script))
    assert written == {"has_changes", "fingerprint", "plan-file", "error-file", "exit-code"}
    assert "  reconcile github roots\n" in script  # it writes roots itself
    written.add("roots")
    assert {name: spec["value"] for name, spec in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in written
    }
    assert not [n for n in action["inputs"] if re.search("key|token|secret|password", n)]
    # Inputs reach the script as environment variables, never spliced into shell code.
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", "")
    env = action["runs"]["steps"][-1]["env"]
    for name in action["inputs"]:
        if name != "python-version":
            assert env[f"INPUT_{name.upper().replace('-', '_')}"] == f"${{{{ inputs.{name} }}}}"


def test_the_pre_commit_hook_runs_reconcile_validate_on_the_whole_inventory(
    tmp_path: Path,
) -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "reconcile-validate",
        "reconcile validate",
        "python",
    )
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("automations/examples/team.yaml")
    assert not files.search("README.md")
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'reconcile = "reconcile.cli:main"' in pyproject
    shutil.copytree(ROOT / "automations", tmp_path / "automations")
    command = [str(BIN / "reconcile"), *hook["entry"].split()[1:]]
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout) == (0, "valid: 5 secrets, 7 webhooks, 16 automations\n")
    (tmp_path / "automations/broken.yaml").write_text("entity: ml\nwebhooks: 3\n")
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stdout.startswith("automations/broken.yaml:2:11: webhooks: ")


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    """A runner's environment for the action's script: the embedded server, no GitHub."""
    shutil.copytree(ROOT / "automations", tmp_path / "automations")
    (tmp_path / "temp").mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        keep.pop(name, None)
    secrets = ("DEPLOY_TOKEN", "DEPLOY_SIGNING_KEY", "TRACKER_TOKEN", "GH_DISPATCH_TOKEN")
    return {
        **keep,
        **{name: f"value-{name}" for name in (*secrets, "TEAMS_SIGNING_KEY")},
        "SLACK_ML_MODELS_URL": "https://hooks.example.com/slack",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_OUTPUT": str(tmp_path / "outputs"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def action(env: dict[str, str], cwd: Path, **inputs: str) -> tuple[int, dict[str, str], str]:
    """Run the action's script once; its exit code, outputs, and stderr."""
    Path(env["GITHUB_OUTPUT"]).write_text("")
    step_env = {**env, **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=cwd, env=step_env, capture_output=True, text=True, check=False
    )
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    return done.returncode, dict(line.split("=", 1) for line in lines), done.stderr


def test_the_action_plans_applies_and_plans_again(
    runner_env: dict[str, str], tmp_path: Path
) -> None:
    code, outputs, _ = action(runner_env, tmp_path, COMMAND="plan")
    plan_file = str(tmp_path / "temp" / "reconcile-plan.json")
    fingerprint = json.loads(Path(plan_file).read_text())["fingerprint"]
    assert (code, outputs) == (
        0,
        {
            "plan-file": plan_file,
            "fingerprint": fingerprint,
            "has_changes": "true",
            "exit-code": "0",
        },
    )
    summary = Path(runner_env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.splitlines()[2:8] == [
        "- project ml-platform/fraud-detection",
        "- collection fraud-detector in project ml-platform/fraud-detection",
        "- registry ml-platform/model",
        "- collection fraud-detector in registry ml-platform/model",
        "",
        "**Plan: 28 to create, 0 to update, 0 to delete.**",
    ]

    code, outputs, _ = action(runner_env, tmp_path, COMMAND="apply", FINGERPRINT="0" * 64)
    assert (code, outputs) == (3, {"exit-code": "3"})
    code, outputs, _ = action(runner_env, tmp_path, COMMAND="apply", FINGERPRINT=fingerprint)
    assert (code, outputs) == (0, {"exit-code": "0"})
    assert (
        "28 applied, 0 failed, 0 not attempted."
        in Path(runner_env["GITHUB_STEP_SUMMARY"]).read_text()
    )

    code, outputs, _ = action(runner_env, tmp_path, COMMAND="plan", DETAILED_EXITCODE="true")
    assert (code, outputs["has_changes"], outputs["exit-code"]) == (0, "false", "0")


def test_the_action_fails_with_an_error_file_or_exit_code_2(
    runner_env: dict[str, str], tmp_path: Path
) -> None:
    code, outputs, _ = action(runner_env, tmp_path, COMMAND="plan", DETAILED_EXITCODE="true")
    assert (code, outputs["has_changes"], outputs["exit-code"]) == (2, "true", "2")
    (tmp_path / "automations/broken.yaml").write_text("entity: ml\nwebhooks: 3\n")
    code, outputs, stderr = action(runner_env, tmp_path, COMMAND="plan")
    errors = str(tmp_path / "temp" / "reconcile-plan.err")
    assert (code, outputs) == (1, {"error-file": errors, "exit-code": "1"})
    assert Path(errors).read_text() == stderr
    assert "automations/broken.yaml:2:11: webhooks: " in stderr
    code, outputs, stderr = action(runner_env, tmp_path, COMMAND="validate")
    assert (code, outputs) == (1, {"exit-code": "1"})
    code, outputs, stderr = action(runner_env, tmp_path, COMMAND="apply")
    assert (code, outputs) == (2, {"exit-code": "2"})
    assert "apply needs the reviewed plan: the fingerprint or plan-file input" in stderr
    code, outputs, stderr = action(runner_env, tmp_path, COMMAND="destroy")
    assert (code, outputs) == (2, {"exit-code": "2"})


def test_the_action_passes_its_inputs_as_arguments(
    runner_env: dict[str, str], tmp_path: Path
) -> None:
    # A stand-in `reconcile` that records its arguments, one per line.
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "reconcile").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\n')
    (stub / "reconcile").chmod(0o755)
    env = {**runner_env, "PATH": f"{stub}{os.pathsep}{runner_env['PATH']}"}
    env["RECORD"] = str(tmp_path / "args")
    inputs = {"PATHS": "teams/a.yaml  teams/b", "SERVER": "https://wandb.example.com"}
    code, _, _ = action(
        env, tmp_path, COMMAND="apply", FINGERPRINT="f" * 64, FORCE="true", **inputs
    )
    assert code == 0
    assert (tmp_path / "args").read_text().splitlines() == [
        "apply",
        "teams/a.yaml",
        "teams/b",
        "--server",
        "https://wandb.example.com",
        "--fingerprint",
        "f" * 64,
        "--force",
    ]
    code, _, _ = action(env, tmp_path, COMMAND="apply", PLAN_FILE="saved.json", FORCE="false")
    assert (tmp_path / "args").read_text().splitlines() == ["apply", "--plan", "saved.json"]
    code, _, _ = action(env, tmp_path, COMMAND="plan", ENV="prod", SERVER="https://w.example")
    assert (tmp_path / "args").read_text().splitlines()[:5] == [
        "plan",
        "--env",
        "prod",
        "--server",
        "https://w.example",
    ]
    code, _, _ = action(env, tmp_path, COMMAND="validate", PATHS="inv")
    assert (tmp_path / "args").read_text().splitlines() == ["validate", "inv", "--format", "github"]
    code, _, _ = action(env, tmp_path, COMMAND="validate", ENV="staging")
    assert (tmp_path / "args").read_text().splitlines() == [
        "validate",
        "--env",
        "staging",
        "--format",
        "github",
    ]
    code, _, _ = action(env, tmp_path, COMMAND="roots")
    assert (tmp_path / "args").read_text().splitlines() == ["github", "roots"]


def test_without_reconcile_yaml_the_roots_are_the_one_inventory(
    runner_env: dict[str, str], tmp_path: Path
) -> None:
    code, outputs, _ = action(runner_env, tmp_path, COMMAND="roots")
    assert (code, outputs) == (0, {"roots": '[""]', "exit-code": "0"})


def test_the_action_installs_its_own_version_with_every_dependency_pinned() -> None:
    [install] = [s for s in load(ACTION)["runs"]["steps"] if s.get("name") == "Install reconcile"]
    assert (
        '"$venv/bin/pip" install -q -c "$GITHUB_ACTION_PATH/constraints.txt" ' in (install["run"])
    )
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    needed, todo = {}, [Requirement(r) for r in metadata.requires("reconcile") or []]
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue  # a dev extra, or another platform's
        name = canonicalize_name(requirement.name)
        needed.setdefault(name, []).append(requirement.specifier)
        if name not in pins:
            continue
        todo += [Requirement(r) for r in metadata.requires(requirement.name) or []]
    assert sorted(set(needed) - set(pins)) == []
    for name, specifiers in needed.items():
        assert all(spec.contains(pins[name]) for spec in specifiers), (name, pins[name])


def test_ci_still_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    command = next(line for line in readme.splitlines() if line.startswith("python3 -m venv"))
    steps = load(ROOT / ".github/workflows/ci.yml")["jobs"]["test"]["steps"]
    assert [step.get("run") for step in steps if "run" in step] == [command]
