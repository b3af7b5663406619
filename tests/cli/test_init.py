"""`reconcile init`: a working inventory in an empty repository, never overwriting."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconcile.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()  # one's own repository
    monkeypatch.chdir(tmp_path)
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_makes_an_inventory_that_validates_plans_and_applies(
    empty: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = run("init")
    assert (made.exit_code, made.output.splitlines()) == (
        0,
        [
            "created automations/example.yaml",
            "created automations/inventory.schema.json",
            "created .gitignore (ignores .reconcile/)",
            "next: edit the example, then `reconcile validate`, `reconcile plan` and "
            "`WEBHOOK_SECRET=... reconcile apply --auto-approve` (the README's first steps)",
        ],
    )
    example = (empty / "automations" / "example.yaml").read_text("utf-8")
    assert example.startswith("# yaml-language-server: $schema=inventory.schema.json\n")
    assert (empty / ".gitignore").read_text("utf-8").splitlines()[-1] == ".reconcile/"
    assert not (empty / ".github").exists()
    assert run("validate").output.splitlines() == [
        "automations/example.yaml:16:10: warning: webhooks[0].url: 127.0.0.1 is a loopback "
        "address: W&B delivers to public addresses only, so this webhook works only with "
        "reconcile's embedded server (--allow-delivery-to 127.0.0.1:8765)",
        "valid: 1 secret, 1 webhook, 1 automation; 1 warning (errors with --strict)",
    ]
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines()[-1] == "3 applied, 0 failed, 0 not attempted."


def test_init_refuses_to_overwrite_and_keeps_a_gitignore(empty: Path) -> None:
    (empty / ".gitignore").write_text("*.pyc", "utf-8")
    assert run("init").output.splitlines()[2] == "updated .gitignore (ignores .reconcile/)"
    assert (empty / ".gitignore").read_text("utf-8") == (
        "*.pyc\n# The embedded server's database and keys (`reconcile plan` makes them): "
        "never commit.\n.reconcile/\n"
    )
    (empty / "automations" / "example.yaml").write_text("mine", "utf-8")
    again = run("init")
    assert (again.exit_code, again.output) == (
        2,
        "error: automations/example.yaml, automations/inventory.schema.json already exist; "
        "init never overwrites a file: move it away, or edit it instead\n",
    )
    assert (empty / "automations" / "example.yaml").read_text("utf-8") == "mine"


def test_init_github_writes_the_projects_own_workflow_for_another_repository(
    empty: Path,
) -> None:
    made = run("init", "--github")
    assert made.output.splitlines()[2] == "created .github/workflows/reconcile.yml"
    written = (empty / ".github" / "workflows" / "reconcile.yml").read_text("utf-8")
    own = (ROOT / ".github" / "workflows" / "reconcile.yml").read_text("utf-8")
    # The same jobs as this repository's workflow (no drift between the two), with the
    # action from its release instead of `./`, and only the inventory's paths.
    expected = own[own.index("name: reconcile") :].replace(
        "uses: ./\n", "uses: OWNER/reconcile@v0.1.0\n"
    )
    expected = expected.replace(
        '["automations/**", "envs/**", "reconcile.yaml", "schema/**"]',
        '["automations/**", "envs/**", "reconcile.yaml"]',
    )
    assert written[written.index("name: reconcile") :] == expected
    assert written.startswith("# Made by `reconcile init`")


@pytest.mark.parametrize(
    ("command", "example"),
    [
        (["init"], "reconcile init --github"),
        (["validate"], "reconcile validate automations/team.yaml --strict"),
        (["plan"], "reconcile plan --server https://api.wandb.ai --out plan.json"),
        (["apply"], "reconcile apply --plan plan.json"),
        (["render"], "reconcile render notify-on-production --event e.json"),
        (["emit"], "reconcile emit events.json"),
        (["history"], "reconcile history notify-on-production --status failed"),
        (["receive"], "reconcile receive --port 8765 --secret-env WEBHOOK_SECRET"),
        (["server"], "reconcile server --server http://127.0.0.1:8080 create-project"),
    ],
)
def test_the_main_commands_help_has_examples(command: list[str], example: str) -> None:
    shown = run(*command, "--help").output
    assert "Example" in shown
    assert example in shown
