"""`reconcile export` never leaves an inventory that fails validation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reconcile.apply.target import Target, connect
from reconcile.cli import cli
from reconcile.client import operations as ops
from reconcile.core.model import Action, Automation, Event, Remote, Scope, State, Webhook
from reconcile.export.convert import render
from reconcile.export.destination import rejected
from reconcile.inventory.load import load_inventory
from reconcile.inventory.schema import schema_text
from tests.apply import test_session
from tests.apply.test_session import run

workdir = test_session.workdir
NO_SCHEMA = (
    "no schema/inventory.schema.json in the project, so no schema modeline: "
    "`reconcile schema > schema/inventory.schema.json` gives editors the schema"
)


def test_export_into_the_inventory_leaves_out_what_it_declares(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / "automations/examples/run-failed.yaml").unlink()
    # Still managed on the server (a delete not applied yet): exported only when asked.
    result = run("export", "--entity", "ml-platform", "--include-managed")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("not exported (already declared in automations/): secret ")
    assert len(lines[0].split(", ")) == 27  # 5 secrets, 7 webhooks, 15 automations
    assert lines[1:] == ["wrote automations/ml-platform.yaml", NO_SCHEMA]
    written = (workdir / "automations/ml-platform.yaml").read_text("utf-8")
    assert written.startswith("# Exported by `reconcile export`.\n")
    data = yaml.safe_load(written)
    assert (sorted(data), [a["name"] for a in data["automations"]]) == (
        ["automations", "entity"],
        ["alert-on-failed-training-run"],
    )
    assert run("validate").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_export_of_what_is_all_declared_writes_nothing(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    result = run("export", "--entity", "ml-platform")
    assert result.exit_code == 0, result.output
    assert result.output == "nothing to write: automations/ already declares all 28 objects\n"
    assert not (workdir / "automations/ml-platform.yaml").exists()
    assert run("validate").exit_code == 0


def test_the_modeline_is_relative_to_the_file_written(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / "schema").mkdir()
    (workdir / "schema/inventory.schema.json").write_text(schema_text(), "utf-8")
    monkeypatch.chdir(workdir / "automations/examples")  # the root is found from below
    result = run(
        "export", "--entity", "ml-platform", "--out", "../../exported/deep", "--include-managed"
    )
    assert result.output.splitlines() == ["wrote ../../exported/deep/ml-platform.yaml"]
    written = workdir / "exported/deep/ml-platform.yaml"
    first = written.read_text("utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schema/inventory.schema.json"
    assert (written.parent / first.split("=", 1)[1]).resolve() == (
        workdir / "schema/inventory.schema.json"
    )


def test_export_refuses_to_join_an_invalid_inventory(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / "exported").mkdir()
    (workdir / "exported/mine.yaml").write_text("entity: ml-platform\nsecrets: {}\n", "utf-8")
    result = CliRunner().invoke(cli, ["export", "--entity", "ml-platform", "--out", "exported"])
    assert (result.exit_code, result.output) == (
        2,
        "error: exported holds an inventory with 1 problem(s) (see `reconcile validate`); "
        "fix it, or export to another --out folder\n",
    )
    assert not (workdir / "exported/ml-platform.yaml").exists()


def test_export_writes_and_adopts_nothing_that_would_not_validate(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    asyncio.run(_hand_made_webhook(Target(None, db=workdir / ".reconcile/server.db")))
    args = [
        "export",
        "--entity",
        "ml-platform",
        "--out",
        "exported",
        "--adopt",
        "--include-managed",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output.splitlines()[-2:] == [
        "error: not writing exported/ml-platform.yaml: the inventory would not validate with it:",
        "exported/ml-platform.yaml:27:8: webhooks[3].url: plain http is allowed only for "
        "loopback hosts; use https for 'example.com'",
    ]
    assert not (workdir / "exported").exists()
    plan = json.loads(run("plan", "--format", "json").output)
    assert plan["unmanaged"] == [{"kind": "webhook", "entity": "ml-platform", "name": "legacy"}]


async def _hand_made_webhook(target: Target) -> None:
    """A webhook made outside reconcile, with a URL the inventory does not accept."""
    async with connect(target) as transport:
        url = "http://example.com/legacy"
        fields = {"entityName": "ml-platform", "name": "legacy", "urlEndpoint": url}
        await transport.execute(ops.CREATE_WEBHOOK, {"input": fields})


def _server_state() -> State:
    """What an SDK user may leave on a server: forms W&B accepts, and some it only has."""
    hook = Webhook("ml", "hook", "https://hooks.example/h")
    project = Scope("vision")

    def auto(name: str, event: Event, action: Action) -> Remote:
        return Remote(Automation("ml", name, project, event, action), id=f"T-{name}")

    run_name: dict[str, None] = {"run_name": None}
    window = {"metric": "loss", "above": 1.5, "aggregate": None, "window": 5, **run_name}
    payload = {"to": "hook", "payload": {"v": "${artifact_version_string}"}}
    untitled = {"channel": "alerts", "title": "", "message": "m", "severity": "info"}
    not_equal = {"filter": {}, "reason": "the alias operator $ne has no inventory form"}
    return State(
        (
            Remote(hook, id="W-1"),
            auto("untitled", Event("alias_added", {"alias": None}), Action("slack", untitled)),
            auto("window-only", Event("run_metric", window), Action("no_op")),
            auto("tag-regex", Event("tag_added", {"tag": {"matches": "^gold"}}), Action("no_op")),
            auto(
                "run-version",
                Event("run_state", {"states": ["failed"], **run_name}),
                Action("webhook", payload),
            ),
            auto("alias-ne", Event("unsupported:ADD_ARTIFACT_ALIAS", not_equal), Action("no_op")),
        )
    )


def test_export_writes_what_validates_and_names_what_it_leaves_out(tmp_path: Path) -> None:
    state = _server_state()
    text = render("ml", state, None, rejected=rejected("ml", state))
    assert text.splitlines()[1:4] == [
        "# Not exported:",
        "#   automation alias-ne (the alias operator $ne has no inventory form)",
        "entity: ml",
    ]
    (tmp_path / "ml.yaml").write_text(text, "utf-8")
    loaded = load_inventory([str(tmp_path)])  # raises if what export wrote does not validate
    by_name = {a.name: a for a in loaded.automations}
    # A variable of another event is blank, as W&B sends it: exported, with a warning.
    assert sorted(by_name) == ["run-version", "tag-regex", "untitled", "window-only"]
    for remote in state.resources:
        if remote.key.name in by_name:  # what was exported means what the server has
            assert by_name[remote.key.name].event == remote.value.event  # type: ignore[union-attr]
            assert by_name[remote.key.name].action == remote.value.action  # type: ignore[union-attr]


def test_names_from_the_server_are_escaped_in_export_messages(workdir: Path) -> None:
    """A name holding a line break or an ANSI escape cannot forge or erase a line."""
    import sqlite3

    assert run("apply", "--auto-approve").exit_code == 0
    hostile = "evil\n\x1b[2Knot exported: automation fine"
    with sqlite3.connect(workdir / ".reconcile/server.db") as con:
        changed = con.execute(
            "UPDATE triggers SET name = ?, event_filter = ? WHERE name = ?",
            (
                hostile,
                '{"$or":[{"$and":[{"alias":{"$all":["prod"]}}]}]}',
                "deploy-fraud-detector-to-production",
            ),
        ).rowcount
    assert changed == 1
    args = ["export", "--entity", "ml-platform", "--out", "exported", "--include-managed"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("not exported:")]
    assert notes == [
        'not exported: automation "evil\\n\\u001b[2Knot exported: automation fine" '
        "(the operator $all: W&B's automation filters have no $all)"
    ]
    assert "\x1b" not in result.stderr + result.output
    written = (workdir / "exported/ml-platform.yaml").read_text("utf-8")
    assert (
        '#   automation "evil\\n\\u001b[2Knot exported: automation fine" '
        "(the operator $all: W&B's automation filters have no $all)\n"
    ) in written
