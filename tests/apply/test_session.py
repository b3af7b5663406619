"""The main job end to end: plan, apply and export against the embedded server.

In-process through the CLI (the default target), and over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from reconcile.apply.target import Target, connect, embedded_key, prepare_embedded, scopes_of
from reconcile.cli import cli
from reconcile.client import operations as ops
from reconcile.client.reader import Reader
from reconcile.core.model import Automation, EnvUrl, Webhook
from reconcile.inventory.load import load_inventory
from tests.server.live import running

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "DEPLOY_TOKEN": "canary-deploy-token-5e1f",
    "DEPLOY_SIGNING_KEY": "canary-signing-key-77aa",
    "TRACKER_TOKEN": "canary-tracker-0c3d",
    "GH_DISPATCH_TOKEN": "canary-github-9b2e",
    "TEAMS_SIGNING_KEY": "canary-teams-4f60",
    "SLACK_ML_MODELS_URL": "https://hooks.slack.com/services/T0/B0/canary-url-8d1b",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout-like folder with the shipped examples, the secrets in the environment."""
    shutil.copytree(ROOT / "automations", tmp_path / "automations")
    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def test_a_fresh_checkout_plans_and_applies_the_examples(workdir: Path) -> None:
    first = run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert first.output.startswith(
        "Target: the embedded server (.reconcile/server.db); entities: ml-platform\n"
        "The embedded server will create 4 (check the names):\n"
        "  project ml-platform/fraud-detection\n"
        "  collection fraud-detector in project ml-platform/fraud-detection\n"
        "  registry ml-platform/model\n"
        "  collection fraud-detector in registry ml-platform/model\n"
        "Plan: 28 to create, 0 to update, 0 to delete.\n"
    )
    assert (workdir / ".reconcile" / "server.db").is_file()
    # The folder holds keys: it keeps itself out of git.
    assert (workdir / ".reconcile" / ".gitignore").read_text("utf-8") == "*\n"
    applied = run("apply", "--plan", "plan.json")
    assert applied.exit_code == 0, applied.output
    assert applied.output.startswith(
        "Target: the embedded server (.reconcile/server.db); entities: ml-platform\n"
    )
    assert applied.output.endswith("28 applied, 0 failed, 0 not attempted.\n")
    again = run("plan", "--detailed-exitcode")
    assert (again.exit_code, again.output.splitlines()[1]) == (
        0,
        "No changes. The server matches the inventory.",
    )


def test_a_one_line_change_is_planned_as_exactly_that_field(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(
        workdir / "automations/examples/staging-vs-production.yaml",
        "at_least: 0.90",
        "at_least: 0.92",
    )
    result = run("plan", "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2
    plan = json.loads(result.output)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0}
    [change] = plan["changes"]
    assert (change["kind"], change["name"]) == ("automation", "route-to-staging")
    assert change["fields"] == [{"path": "when.run_metric.at_least", "before": 0.9, "after": 0.92}]
    assert run("apply", "--fingerprint", plan["fingerprint"]).exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_apply_refuses_a_plan_that_changed_since_review(workdir: Path) -> None:
    assert run("plan", "--out", "reviewed.json").exit_code == 0
    edit(workdir / "automations/examples/team.yaml", "rotation: 1", "rotation: 2")
    refused = run("apply", "--plan", "reviewed.json")
    assert refused.exit_code == 3
    assert "the plan has changed since it was reviewed" in refused.output
    still = json.loads(run("plan", "--format", "json").output)
    assert still["summary"]["create"] == 28  # nothing was applied


def test_previously_renames_instead_of_replacing(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(
        workdir / "automations/examples/loss-regression.yaml",
        "  - name: val-loss-jumped\n",
        "  - name: val-loss-rose\n    previously: [val-loss-jumped]\n",
    )
    plan = json.loads(run("plan", "--format", "json").output)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0}
    [change] = plan["changes"]
    assert change["renamed_from"] == "val-loss-jumped"
    assert change["fields"] == [
        {"path": "name", "before": "val-loss-jumped", "after": "val-loss-rose"}
    ]
    assert run("apply", "--fingerprint", plan["fingerprint"]).exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_export_round_trips_to_no_changes(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    result = run("export", "--entity", "ml-platform", "--out", "exported", "--include-managed")
    assert result.exit_code == 0, result.output
    assert "not exported" not in result.output
    monkeypatch.setenv("GITHUB_TOKEN", SECRETS["GH_DISPATCH_TOKEN"])
    assert run("validate", "exported").exit_code == 0
    again = run("plan", "exported", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_export_adopt_brings_unmanaged_objects_under_management(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    asyncio.run(_strip_markers(Target(None, db=workdir / ".reconcile/server.db")))
    plan = json.loads(run("plan", "--format", "json").output)
    assert len(plan["conflicts"]) == 7 + 16  # every webhook and automation is unmanaged now
    result = run("export", "--entity", "ml-platform", "--out", "adopted", "--adopt")
    assert result.exit_code == 0, result.output
    assert "adopted 23 objects" in result.output
    monkeypatch.setenv("GITHUB_TOKEN", SECRETS["GH_DISPATCH_TOKEN"])
    again = run("plan", "adopted", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


async def _strip_markers(target: Target) -> None:
    """Make every webhook and automation look hand-made: no ownership marker."""
    async with connect(target) as transport:
        state, lookup = await Reader(transport).read(["ml-platform"], [])
        for remote in state.resources:
            ident = lookup.ids.get(remote.key)
            if isinstance(remote.value, Webhook):
                url = remote.value.url
                if isinstance(url, EnvUrl):  # the value the environment gave it
                    url = SECRETS[url.from_env]
                variables = {"input": {"id": ident, "urlEndpoint": url}}
                await transport.execute(ops.UPDATE_WEBHOOK, variables)
            elif isinstance(remote.value, Automation):
                variables = {"input": {"id": ident, "description": remote.value.description}}
                await transport.execute(ops.UPDATE_TRIGGER, variables)


@pytest.fixture
def served(workdir: Path) -> Iterator[tuple[str, str]]:
    db = workdir / "served.db"
    inventory = load_inventory(["automations"])
    prepare_embedded(Target(None, db=db), inventory, scopes_of(inventory))
    key = embedded_key(db)
    with running(db) as live:
        yield live.url, key


def test_plan_and_apply_over_http(served: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, key = served
    monkeypatch.setenv("WANDB_API_KEY", key)
    assert run("plan", "--server", url, "--detailed-exitcode").exit_code == 2
    applied = run("apply", "--server", url, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert run("plan", "--server", url, "--detailed-exitcode").exit_code == 0


def test_a_plan_refuses_automations_the_server_does_not_enable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = workdir / "served.db"
    inventory = load_inventory(["automations"])
    prepare_embedded(Target(None, db=db), inventory, scopes_of(inventory))
    monkeypatch.setenv("WANDB_API_KEY", embedded_key(db))
    off = frozenset({"AUTOMATION_EVENT_ADD_ARTIFACT_TAG", "AUTOMATION_EVENT_RUN_METRIC_ZSCORE"})
    with running(db, disabled=off) as live:
        result = run("plan", "--server", live.url)
    assert result.exit_code == 1
    assert result.output.splitlines()[-4:] == [
        f"error: {live.url} cannot take 3 automation(s); nothing was planned:",
        "  automations/examples/model-lifecycle.yaml: automation ml-platform/"
        "track-gold-versions: tag_added needs the server feature "
        "AUTOMATION_EVENT_ADD_ARTIFACT_TAG, which the server does not enable",
        "  automations/examples/slack-blocks.yaml: automation ml-platform/slack-blocks-on-gold-tag:"
        " tag_added needs the server feature AUTOMATION_EVENT_ADD_ARTIFACT_TAG, which the server"
        " does not enable",
        "  automations/examples/throughput-anomaly.yaml: automation ml-platform/"
        "throughput-anomaly: run_metric_zscore needs the server feature "
        "AUTOMATION_EVENT_RUN_METRIC_ZSCORE, which the server does not enable",
    ]


def test_a_server_url_needs_an_api_key(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert result.output == "error: set WANDB_API_KEY to an API key for http://127.0.0.1:9\n"


def test_apply_needs_exactly_one_way_to_approve(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["apply"])
    assert result.exit_code == 2
    assert "give exactly one of --plan FILE, --fingerprint SHA, --auto-approve" in result.output


def test_missing_secret_values_stop_apply_before_any_change(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKER_TOKEN")
    result = CliRunner().invoke(cli, ["apply", "--auto-approve"])
    assert result.exit_code == 2
    assert "TRACKER_TOKEN (for secret ml-platform/TRACKER_TOKEN)" in result.output
    assert json.loads(run("plan", "--format", "json").output)["summary"]["create"] == 28


def test_db_chooses_the_embedded_database(workdir: Path) -> None:
    result = run("plan", "--db", "elsewhere/server.db", "--detailed-exitcode")
    assert result.exit_code == 2
    assert (workdir / "elsewhere/server.db").is_file()
    assert not (workdir / ".reconcile").exists()


def test_db_and_a_server_url_do_not_mix(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "local-" + "a" * 40)
    result = CliRunner().invoke(cli, ["plan", "--db", "x.db", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--db selects the embedded server" in result.output


def test_export_never_overwrites_a_file(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    asyncio.run(_strip_markers(Target(None, db=workdir / ".reconcile/server.db")))
    (workdir / "exported").mkdir()
    (workdir / "exported/ml-platform.yaml").write_text("# mine\n", "utf-8")
    args = ["export", "--entity", "ml-platform", "--out", "exported", "--adopt"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "exported/ml-platform.yaml exists; choose another --out folder" in result.output
    assert (workdir / "exported/ml-platform.yaml").read_text("utf-8") == "# mine\n"
    still = json.loads(run("plan", "--format", "json").output)
    assert len(still["conflicts"]) == 23  # nothing was adopted either


def test_unlock_when_nothing_is_locked(workdir: Path) -> None:
    assert run("plan").exit_code == 0  # creates the embedded server and its team
    result = run("unlock", "--entity", "ml-platform")
    assert (result.exit_code, result.output) == (0, "entity ml-platform is not locked\n")


LITERAL_URL_WEBHOOKS = [  # the examples' webhooks with a literal `url:`
    "deploy-pipeline",
    "experiment-tracker",
    "github-dispatch",
    "model-tracker",
    "staging-deploy",
    "teams-ml-channel",
]


def _member_key(db_path: Path, username: str, role: str) -> str:
    from reconcile.server.admin import tasks as admin
    from reconcile.server.store.db import Database

    db = Database(db_path)
    admin.create_user(db, username)
    admin.set_role(db, "ml-platform", username, role)
    return admin.create_api_key(db, username)


def test_a_member_key_reads_webhook_urls_masked_and_plans_no_false_change(
    served: tuple[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain member of the team reads `https://host/***`: the plan says it could not
    compare those URLs, claims no change, and apply writes nothing for them."""
    url, admin_key = served
    monkeypatch.setenv("WANDB_API_KEY", admin_key)
    assert run("apply", "--server", url, "--auto-approve").exit_code == 0
    member = _member_key(workdir / "served.db", "bob", "member")
    monkeypatch.setenv("WANDB_API_KEY", member)
    planned = run("plan", "--server", url, "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    warnings = [line for line in planned.output.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        f"Warning: the URL of webhook ml-platform/{name} could not be compared with this key, "
        "which sees only its scheme, host and port; a key of an admin of team ml-platform "
        "compares it."
        for name in sorted(LITERAL_URL_WEBHOOKS)
    ]
    assert planned.output.splitlines()[1] == "No changes. The server matches the inventory."
    document = json.loads(run("plan", "--server", url, "--format", "json").output)
    assert [row["name"] for row in document["unverified"]] == sorted(LITERAL_URL_WEBHOOKS)
    markdown = run("plan", "--server", url, "--format", "markdown").output
    assert markdown.count("could not be compared with this key") == 6
    assert "Warning: the URL of `webhook ml-platform/deploy-pipeline` could not" in markdown
    # The admin's plan, the same plan (the fingerprint leaves the warning out), sees all.
    monkeypatch.setenv("WANDB_API_KEY", admin_key)
    whole = json.loads(run("plan", "--server", url, "--format", "json").output)
    assert "unverified" not in whole
    assert whole["fingerprint"] == document["fingerprint"]
    # The plan a member reviewed is applied (by a key that may write webhooks): nothing.
    applied = run("apply", "--server", url, "--fingerprint", document["fingerprint"])
    assert applied.exit_code == 0, applied.output
    assert applied.output.endswith("\nNothing to apply.\n")


def test_a_masked_url_still_shows_a_change_of_host_and_hides_one_of_path(
    served: tuple[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, admin_key = served
    monkeypatch.setenv("WANDB_API_KEY", admin_key)
    assert run("apply", "--server", url, "--auto-approve").exit_code == 0
    team = workdir / "automations/examples/team.yaml"
    edit(team, "https://deploy.example.com/hooks/wandb\n", "https://deploy.example.com/v2\n")
    edit(team, "https://tracker.example.com/api/v1/models", "https://other.example.com/models")
    member = _member_key(workdir / "served.db", "bob", "member")
    monkeypatch.setenv("WANDB_API_KEY", member)
    seen = json.loads(run("plan", "--server", url, "--format", "json").output)
    assert [(c["name"], c["fields"]) for c in seen["changes"]] == [
        (
            "model-tracker",
            [
                {
                    "path": "url",
                    "before": "https://tracker.example.com/***",
                    "after": "https://other.example.com/models",
                }
            ],
        )
    ]
    assert "deploy-pipeline" in [row["name"] for row in seen["unverified"]]
    monkeypatch.setenv("WANDB_API_KEY", admin_key)
    whole = json.loads(run("plan", "--server", url, "--format", "json").output)
    assert sorted(c["name"] for c in whole["changes"]) == ["deploy-pipeline", "model-tracker"]


def test_a_member_key_never_exports_a_masked_url(
    served: tuple[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, admin_key = served
    monkeypatch.setenv("WANDB_API_KEY", admin_key)
    assert run("apply", "--server", url, "--auto-approve").exit_code == 0
    monkeypatch.setenv("WANDB_API_KEY", _member_key(workdir / "served.db", "bob", "member"))
    result = run(
        "export",
        "--server",
        url,
        "--entity",
        "ml-platform",
        "--out",
        "exported",
        "--include-managed",
    )
    assert result.exit_code == 0, result.output
    notes = [n for n in result.output.splitlines() if n.startswith("not exported: webhook ")]
    assert len(notes) == 6
    assert notes[0] == (
        "not exported: webhook deploy-pipeline (its URL reads as https://deploy.example.com/*** "
        "with this key; export it with a key of an admin of team ml-platform)"
    )
    written = yaml.safe_load((workdir / "exported/ml-platform.yaml").read_text("utf-8"))
    assert written["webhooks"] == [
        {"name": "slack-ml-models", "url": {"from_env": "SLACK_ML_MODELS_URL"}}
    ]


ENTITY_SCOPES = """
entity: ml-platform
automations:
  - name: promoted-anywhere-in-the-team
    scope: {team: ml-platform}
    when: {alias_added: {alias: {not_equals: dev}}}
    then: {no_op: }
  - name: linked-in-any-registry
    scope: {organization: ORG}
    when: {artifact_linked: {alias: ^prod$}}
    then: {webhook: {to: deploy-pipeline, payload: {v: "${artifact_version_string}"}}}
"""


def test_entity_scoped_artifact_automations_apply_and_plan_clean(workdir: Path) -> None:
    """Written from the inventory on the team's and the organization's entity scope."""
    path = workdir / "automations/entity-scopes.yaml"
    path.write_text(ENTITY_SCOPES.replace("ORG", "elsewhere-org"), "utf-8")
    refused = run("plan")
    assert refused.exit_code == 1
    assert refused.output.splitlines()[-1] == (
        "error: on the embedded server (.reconcile/server.db): automation "
        "ml-platform/linked-in-any-registry: organization 'elsewhere-org' is not team "
        "'ml-platform''s (its organization's entity is 'ml-platform-org')"
    )
    path.write_text(ENTITY_SCOPES.replace("ORG", "ml-platform-org"), "utf-8")
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    with sqlite3.connect(workdir / ".reconcile/server.db") as con:
        rows = con.execute(
            "SELECT t.name, t.scope_type, e.name FROM triggers t JOIN entities e "
            "ON e.id = t.scope_id WHERE t.scope_type = 'ENTITY' ORDER BY t.name"
        ).fetchall()
    assert rows == [
        ("alert-on-failed-training-run", "ENTITY", "ml-platform"),  # an example's run event
        ("linked-in-any-registry", "ENTITY", "ml-platform-org"),
        ("promoted-anywhere-in-the-team", "ENTITY", "ml-platform"),
    ]
