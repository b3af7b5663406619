"""The messages of plan and apply that tell a user what to do next."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.apply.target import embedded_key
from reconcile.cli import cli
from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database
from tests.apply import test_session
from tests.apply.test_session import run
from tests.conftest import WriteFiles
from tests.server.live import free_port, running

workdir = test_session.workdir
EXAMPLES = "automations/examples"


def test_a_missing_plan_file_is_named_as_missing(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--plan", "nope.json"])
    assert (result.exit_code, result.output) == (
        2,
        "error: nope.json: no such file; save the reviewed plan with "
        "`reconcile plan --out nope.json`\n",
    )


def test_an_unreachable_server_is_named(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "local-" + "a" * 40)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(cli, ["plan", "--server", url])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(f"error: cannot reach the server at {url}: ")


@pytest.fixture
def bare(workdir: Path) -> Iterator[tuple[str, str]]:
    """A served database with the team but none of its projects, registries or collections."""
    db_path = workdir / "bare.db"
    key = embedded_key(db_path)
    db = Database(db_path)
    try:
        admin.ensure_team(db, "ml-platform")
        admin.set_role(db, "ml-platform", admin.DEFAULT_ADMIN, "admin")
    finally:
        db.close()
    with running(db_path) as live:
        yield live.url, key


def test_missing_projects_say_how_to_create_them(
    bare: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = bare
    monkeypatch.setenv("WANDB_API_KEY", key)
    result = CliRunner().invoke(cli, ["plan", "--server", url])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"error: not on {url}: project ml-platform/fraud-detection; "
        "collection fraud-detector in project ml-platform/fraud-detection; "
        "registry ml-platform/model; collection fraud-detector in registry ml-platform/model; "
        "create them in W&B (on a server run by `reconcile serve`: "
        "`reconcile server create-project ml-platform fraud-detection`; "
        "`reconcile server create-collection ml-platform fraud-detection fraud-detector`; "
        "`reconcile server create-registry ml-platform model`; "
        "`reconcile server create-collection ml-platform --registry model fraud-detector`), "
        "then plan again"
    )


def test_the_force_refusal_gives_counts(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    for path in (workdir / EXAMPLES).iterdir():
        if path.name != "team.yaml":
            path.unlink()
    result = CliRunner().invoke(cli, ["apply", "--auto-approve", "--prune"])
    assert result.exit_code == 3
    assert result.output.splitlines()[1:] == [
        "refused: the plan updates or deletes 15 of 28 managed objects (more than 30 %); "
        "review it and apply with --force"
    ]


def test_the_apply_table_says_kept_once(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / EXAMPLES / "run-failed.yaml").unlink()
    result = run("apply", "--auto-approve")
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == [
        "kept  delete  automation ml-platform/alert-on-failed-training-run: "
        "deletes need a reviewed plan (--plan or --fingerprint) or --prune",
        "",
        "0 applied, 0 failed, 0 not attempted, 1 kept.",
    ]


def test_plan_json_of_an_invalid_inventory_is_a_json_error_document(
    write_files: WriteFiles,
) -> None:
    write_files({"a.yaml": "entity: ml\nautomations:\n  - name: x\n    scope: {project: p}\n"})
    result = CliRunner().invoke(cli, ["plan", "--format", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "valid": False,
        "errors": [
            {
                "path": "automations/a.yaml",
                "line": 3,
                "col": 5,
                "message": f"automations[0]: missing required key '{key}'",
            }
            for key in ("then", "when")
        ],
        "warnings": [],
    }
    text = CliRunner().invoke(cli, ["plan"])
    assert (text.exit_code, text.stdout) == (1, "")
    assert text.stderr.splitlines()[-1] == "the inventory is invalid"
