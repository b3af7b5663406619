"""`reconcile import` and `reconcile forget`, and `export --adopt` of what the inventory
declares, run as a user types them against the embedded server."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconcile.apply.target import Target, connect
from reconcile.cli import cli
from reconcile.client import operations as ops
from reconcile.client.reader import Reader
from reconcile.core import ownership
from tests.apply import test_session
from tests.apply.test_session import _strip_markers, edit, run
from tests.server.helpers import TEAM, InProcess, build_world, sdk_environment
from tests.server.live import running

workdir = test_session.workdir
NAME = "alert-on-failed-training-run"
RUN_FAILED = "automations/examples/run-failed.yaml"
TEAM_FILE = "automations/examples/team.yaml"
IMPORTED = """\
automations:
- name: alert-on-failed-training-run
  description: Page the team's Slack channel when a training run fails or crashes.
  scope:
    team: ml-platform
  when:
    run_state:
      states:
      - failed
      run_name:
        contains: train
  then:
    slack:
      channel: ml-alerts
      title: A training run failed
      message: Check the run's logs in W&B.
      severity: error
"""


def invoke(*args: str) -> Result:
    """The command as typed, its error messages included (exit code 2, `error: ...`)."""
    return CliRunner().invoke(cli, list(args))


async def _description(db: Path, name: str, text: str | None = None) -> str:
    """An automation's description as stored; with `text`, first set it (a UI edit)."""
    async with connect(Target(None, db=db)) as transport:
        reader = Reader(transport)
        if text is not None:
            state, lookup = await reader.read(["ml-platform"], [])
            (key,) = [r.key for r in state.resources if r.key.name == name]
            fields = {"id": lookup.ids[key], "description": text}
            await transport.execute(ops.UPDATE_TRIGGER, {"input": fields})
        node = await reader.find_trigger("ml-platform", name)
        assert node is not None
        return str(node["description"])


def _hand_made(workdir: Path) -> None:
    """The Slack automation, made outside reconcile: on the server without the marker,
    and in no file."""
    assert run("apply", "--auto-approve").exit_code == 0
    description = "Page the team's Slack channel when a training run fails or crashes."
    asyncio.run(_description(workdir / ".reconcile/server.db", NAME, description))
    (workdir / RUN_FAILED).unlink()


def test_import_into_an_existing_file_then_forget(workdir: Path) -> None:
    _hand_made(workdir)
    before = (workdir / TEAM_FILE).read_text("utf-8")
    imported = invoke("import", "automation", f"ml-platform/{NAME}", "--into", TEAM_FILE)
    assert (imported.exit_code, imported.output) == (
        0,
        f"imported automation ml-platform/{NAME} into {TEAM_FILE}\n",
    )
    # The file keeps every byte it had (its comments too); the automation comes after.
    assert (workdir / TEAM_FILE).read_text("utf-8") == before + IMPORTED
    planned = invoke("plan", "--detailed-exitcode")
    assert (planned.exit_code, planned.output.splitlines()[1]) == (
        0,
        "No changes. The server matches the inventory.",
    )
    marked = ownership.read_description(
        asyncio.run(_description(workdir / ".reconcile/server.db", NAME))
    )
    assert (marked.managed, marked.applied is not None) == (True, True)
    forgot = invoke("forget", "automation", f"ml-platform/{NAME}")
    assert (forgot.exit_code, forgot.output) == (
        0,
        f"forgot automation ml-platform/{NAME}: it stays on the server, no longer managed "
        f"by reconcile; removed it from {TEAM_FILE}\n",
    )
    assert (workdir / TEAM_FILE).read_text("utf-8") == before
    document = json.loads(invoke("plan", "--format", "json", "--detailed-exitcode").output)
    assert (document["summary"], document["conflicts"]) == (
        {"create": 0, "update": 0, "delete": 0},
        [],
    )
    assert document["unmanaged"] == [{"kind": "automation", "entity": "ml-platform", "name": NAME}]


def test_import_into_a_new_file(workdir: Path) -> None:
    _hand_made(workdir)
    imported = invoke("import", "automation", f"ml-platform/{NAME}")
    assert (imported.exit_code, imported.output) == (
        0,
        f"imported automation ml-platform/{NAME} into automations/ml-platform.yaml (a new file)\n",
    )
    written = (workdir / "automations/ml-platform.yaml").read_text("utf-8")
    assert written == "# Imported by `reconcile import`.\nentity: ml-platform\n" + IMPORTED
    assert invoke("plan", "--detailed-exitcode").exit_code == 0


def test_import_refuses_what_it_cannot_adopt(workdir: Path) -> None:
    _hand_made(workdir)
    cases = {
        ("automation", "ml-platform/nope"): "error: no automation ml-platform/nope on the "
        "embedded server (.reconcile/server.db)\n",
        ("automation", "val-loss-jumped"): "error: val-loss-jumped: give the object as "
        "ENTITY/NAME (for example ml-platform/x)\n",
        ("automation", "ml-platform/val-loss-jumped"): "error: automation "
        "ml-platform/val-loss-jumped is managed by reconcile already (declared in "
        "automations/examples/loss-regression.yaml)\n",
    }
    for (kind, address), message in cases.items():
        result = invoke("import", kind, address)
        assert (result.exit_code, result.output) == (2, message)
    (workdir / "other.yaml").write_text("entity: someone-else\n", "utf-8")
    wrong = invoke("import", "automation", f"ml-platform/{NAME}", "--into", "other.yaml")
    assert (wrong.exit_code, wrong.output) == (
        2,
        "error: other.yaml declares entity someone-else, not ml-platform; import into a "
        "file of entity ml-platform (--into FILE)\n",
    )
    assert (workdir / "other.yaml").read_text("utf-8") == "entity: someone-else\n"
    # Nothing was adopted by the refusals: the automation is still not managed.
    plan = json.loads(invoke("plan", "--format", "json").output)
    assert plan["unmanaged"] == [{"kind": "automation", "entity": "ml-platform", "name": NAME}]


def test_import_of_a_declared_object_adopts_it_and_writes_nothing(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    db = workdir / ".reconcile/server.db"
    asyncio.run(_description(db, NAME, "Edited in the UI."))  # and the marker gone with it
    files = {p: p.read_text("utf-8") for p in (workdir / "automations").rglob("*.yaml")}
    result = invoke("import", "automation", f"ml-platform/{NAME}")
    assert (result.exit_code, result.output) == (
        0,
        f"adopted automation ml-platform/{NAME}, declared in {RUN_FAILED} already; "
        "`reconcile plan` shows what apply would change in it\n",
    )
    assert {p: p.read_text("utf-8") for p in files} == files
    plan = json.loads(invoke("plan", "--format", "json").output)
    assert plan["conflicts"] == []
    assert [(c["name"], [f["path"] for f in c["fields"]]) for c in plan["changes"]] == [
        (NAME, ["description"])
    ]


def test_forget_refuses_what_is_not_managed(workdir: Path) -> None:
    _hand_made(workdir)
    result = invoke("forget", "automation", f"ml-platform/{NAME}")
    assert (result.exit_code, result.output) == (
        2,
        f"error: automation ml-platform/{NAME} is not managed by reconcile on the embedded "
        "server (.reconcile/server.db)\n",
    )
    missing = invoke("forget", "webhook", "ml-platform/nope")
    assert (missing.exit_code, missing.output) == (
        2,
        "error: no webhook ml-platform/nope on the embedded server (.reconcile/server.db)\n",
    )


def test_forget_refuses_a_webhook_the_inventory_still_uses(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    before = (workdir / TEAM_FILE).read_text("utf-8")
    result = invoke("forget", "webhook", "ml-platform/deploy-pipeline")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        f"error: not writing {TEAM_FILE}: the inventory would not validate with it:"
    )
    assert (workdir / TEAM_FILE).read_text("utf-8") == before
    plan = invoke("plan", "--detailed-exitcode")
    assert plan.exit_code == 0  # still managed: nothing changed on the server either


def test_export_adopt_adopts_what_the_inventory_declares(workdir: Path) -> None:
    """The issue's dead end: a plain export, then conflicts, then `export --adopt`."""
    assert run("apply", "--auto-approve").exit_code == 0
    asyncio.run(_strip_markers(Target(None, db=workdir / ".reconcile/server.db")))
    plan = json.loads(invoke("plan", "--format", "json").output)
    assert len(plan["conflicts"]) == 23
    result = invoke("export", "--entity", "ml-platform", "--adopt")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "nothing to write: automations/ already declares all 28 objects"
    assert lines[1].startswith("adopted 23 objects: ")
    again = json.loads(invoke("plan", "--format", "json").output)
    assert again["conflicts"] == []


def test_export_leaves_out_what_another_inventory_manages_and_says_so(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    result = invoke("export", "--entity", "ml-platform", "--out", "fresh")
    assert result.exit_code == 0
    assert result.stdout == (
        "nothing to write: fresh/ declares 0 objects, and 28 are managed from another inventory\n"
    )
    assert result.stderr.startswith(
        "not exported (managed by reconcile, not declared in fresh/; --include-managed "
        "exports them too): secret ml-platform/"
    )
    assert len(result.stderr.split("): ", 1)[1].split(", ")) == 28
    assert not (workdir / "fresh").exists()


# --- an automation made with the official SDK, imported, edited in two places, forgotten ---

SDK_NAME = "sdk-made"
SDK_FILE = "# The team's objects, written by hand.\nentity: acme\n"
SDK_IMPORTED = """\
webhooks:
- name: deploy
  url: https://hooks.example/d
automations:
- name: sdk-made
  description: by the SDK
  scope:
    project: vision
  when:
    run_state:
      states:
      - failed
  then:
    webhook:
      to: deploy
      payload:
        run: ${run_name}
"""


@pytest.fixture
def sdk_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A served database with the SDK's world (team acme, a webhook `deploy`, a project),
    the SDK pointed at it, and an empty project folder as the working directory."""
    import wandb

    with running(tmp_path / "server.db") as live:
        world = build_world(InProcess(live.app))
        hook = {"entityName": TEAM, "name": "deploy", "urlEndpoint": "https://hooks.example/d"}
        world.admin.ok(
            "mutation ($i: CreateGenericWebhookIntegrationInput!) {"
            " createGenericWebhookIntegration(input: $i) { integration { __typename } } }",
            {"i": hook},
        )
        for name, value in sdk_environment(live.url, world.admin.key, tmp_path / "home").items():
            monkeypatch.setenv(name, value)
        (tmp_path / "project/automations").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / "project")
        try:
            yield live.url, wandb.Api()
        finally:
            wandb.teardown()


def _sdk_made(api: Any) -> None:
    from wandb.automations import OnRunState, RunEvent, SendWebhook

    webhook = next(iter(api.webhook_integrations(entity=TEAM)))
    event = OnRunState(
        scope=api.project("vision", entity=TEAM), filter=RunEvent.state.in_(["FAILED"])
    )
    send = SendWebhook.from_integration(webhook, payload={"run": "${run_name}"})
    api.create_automation(event >> send, name=SDK_NAME, description="by the SDK")


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_an_sdk_made_automation_is_imported_edited_and_forgotten(
    sdk_server: tuple[str, Any],
) -> None:
    url, api = sdk_server
    _sdk_made(api)
    path = Path(f"automations/{TEAM}.yaml")
    path.write_text(SDK_FILE, "utf-8")
    for kind, name in (("webhook", "deploy"), ("automation", SDK_NAME)):
        imported = invoke("import", kind, f"{TEAM}/{name}", "--server", url)
        assert (imported.exit_code, imported.output) == (
            0,
            f"imported {kind} {TEAM}/{name} into automations/{TEAM}.yaml\n",
        )
    assert path.read_text("utf-8") == SDK_FILE + SDK_IMPORTED
    planned = invoke("plan", "--server", url, "--detailed-exitcode")
    assert (planned.exit_code, planned.output.splitlines()[1]) == (
        0,
        "No changes. The server matches the inventory.",
    )
    # An edit in W&B (through the SDK) and one in the inventory, planned apart.
    made = api.automation(SDK_NAME, entity=TEAM)
    made.enabled = False
    api.update_automation(made)
    edit(path, "url: https://hooks.example/d", "url: https://hooks.example/v2")
    document = json.loads(invoke("plan", "--server", url, "--format", "json").output)
    assert document["changed_outside"] == [
        {"kind": "automation", "entity": TEAM, "name": SDK_NAME, "inventory_changed": False}
    ]
    assert [(c["kind"], c["name"], c["fields"]) for c in document["changes"]] == [
        (
            "webhook",
            "deploy",
            [
                {
                    "path": "url",
                    "before": "https://hooks.example/d",
                    "after": "https://hooks.example/v2",
                }
            ],
        ),
        ("automation", SDK_NAME, [{"path": "enabled", "before": False, "after": True}]),
    ]
    applied = invoke("apply", "--server", url, "--fingerprint", document["fingerprint"])
    assert applied.exit_code == 0, applied.output
    forgot = invoke("forget", "automation", f"{TEAM}/{SDK_NAME}", "--server", url)
    assert (forgot.exit_code, forgot.output) == (
        0,
        f"forgot automation {TEAM}/{SDK_NAME}: it stays on the server, no longer managed by "
        f"reconcile; removed it from automations/{TEAM}.yaml\n",
    )
    after = invoke("plan", "--server", url, "--format", "json", "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert json.loads(after.output)["unmanaged"] == [
        {"kind": "automation", "entity": TEAM, "name": SDK_NAME}
    ]
    kept = api.automation(SDK_NAME, entity=TEAM)  # a fresh read: still there, as made
    assert (kept.description, kept.enabled) == ("by the SDK", True)


def test_import_refuses_what_another_inventory_manages(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    (workdir / RUN_FAILED).unlink()  # still managed on the server: by another inventory now
    result = invoke("import", "automation", f"ml-platform/{NAME}")
    assert (result.exit_code, result.output) == (
        2,
        f"error: automation ml-platform/{NAME} is managed by reconcile already; to move it "
        f"here, `reconcile forget automation ml-platform/{NAME}` first\n",
    )
    assert not (workdir / "automations/ml-platform.yaml").exists()


def test_import_starts_the_inventory_of_a_project_without_one(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    asyncio.run(_strip_markers(Target(None, db=workdir / ".reconcile/server.db")))
    shutil.rmtree(workdir / "automations")
    result = invoke("import", "automation", f"ml-platform/{NAME}")
    assert (result.exit_code, result.output) == (
        0,
        f"imported automation ml-platform/{NAME} into automations/ml-platform.yaml (a new file)\n",
    )
    document = json.loads(invoke("plan", "--format", "json", "--detailed-exitcode").output)
    assert (document["summary"], document["conflicts"]) == (
        {"create": 0, "update": 0, "delete": 0},
        [],
    )
