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
from tests.server.live import closed_port, running

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
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"  # nothing listens there
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
        f"`reconcile server --server {url} create-project ml-platform fraud-detection`; "
        f"`reconcile server --server {url} create-collection ml-platform fraud-detection "
        "fraud-detector`; "
        f"`reconcile server --server {url} create-registry ml-platform model`; "
        f"`reconcile server --server {url} create-collection ml-platform --registry model "
        "fraud-detector`), "
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


def test_the_graphql_url_serve_prints_works_as_server(
    bare: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = bare
    monkeypatch.setenv("WANDB_API_KEY", key)
    for given in (f"{url}/graphql", f"{url}/graphql/", f"{url}/"):
        result = CliRunner().invoke(cli, ["plan", "--server", given])
        assert result.exit_code == 1, given
        assert result.output.splitlines()[-1].startswith(
            f"error: not on {url}: project ml-platform/fraud-detection; "
        ), (given, result.output)


CREATES = [
    "The embedded server will create 4 (check the names):",
    "  project ml-platform/fraud-detectoin (did you mean 'fraud-detection'?)",
    "  collection fraud-detector in project ml-platform/fraud-detectoin",
    "  registry ml-platform/modle (did you mean 'model'?)",
    "  collection fraud-detector in registry ml-platform/modle",
]


def _misspell(workdir: Path) -> None:
    for path in (workdir / EXAMPLES).iterdir():
        text = path.read_text("utf-8")
        text = text.replace("project: fraud-detection", "project: fraud-detectoin")
        path.write_text(text.replace("registry: model\n", "registry: modle\n"), "utf-8")


def test_the_embedded_target_names_what_it_creates_with_did_you_mean(workdir: Path) -> None:
    first = run("plan")
    assert first.output.splitlines()[1:6] == [
        "The embedded server will create 4 (check the names):",
        "  project ml-platform/fraud-detection",
        "  collection fraud-detector in project ml-platform/fraud-detection",
        "  registry ml-platform/model",
        "  collection fraud-detector in registry ml-platform/model",
    ]
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines()[1:6] == [
        "The embedded server created 4:",
        "  project ml-platform/fraud-detection",
        "  collection fraud-detector in project ml-platform/fraud-detection",
        "  registry ml-platform/model",
        "  collection fraud-detector in registry ml-platform/model",
    ]
    assert run("plan").output.splitlines()[1] == "No changes. The server matches the inventory."
    _misspell(workdir)
    text = run("plan")
    assert text.output.splitlines()[1:6] == CREATES
    markdown = run("plan", "--format", "markdown")
    assert markdown.output.splitlines()[1:6] == [
        line.replace("  ", "- ", 1) if line.startswith("  ") else line for line in CREATES
    ]
    document = json.loads(run("plan", "--format", "json").output)
    assert document["target"]["creates"] == [line.strip() for line in CREATES[1:]]


def test_the_same_typos_against_a_server_are_refused_with_the_command_for_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    _misspell(workdir)
    db_path = workdir / ".reconcile" / "server.db"
    with running(db_path) as live:
        monkeypatch.setenv("WANDB_API_KEY", embedded_key(db_path))
        result = run("plan", "--server", live.url)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"error: not on {live.url}: project ml-platform/fraud-detectoin; "
        "collection fraud-detector in project ml-platform/fraud-detectoin; "
        "registry ml-platform/modle; collection fraud-detector in registry ml-platform/modle; "
        "create them in W&B (on a server run by `reconcile serve`: "
        f"`reconcile server --server {live.url} create-project ml-platform fraud-detectoin`; "
        f"`reconcile server --server {live.url} create-collection ml-platform "
        "fraud-detectoin fraud-detector`; "
        f"`reconcile server --server {live.url} create-registry ml-platform modle`; "
        f"`reconcile server --server {live.url} create-collection ml-platform "
        "--registry modle fraud-detector`), then plan again"
    )


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
