"""What a protected automation still uses is kept, and how to retire a protected automation."""

from __future__ import annotations

import json
from pathlib import Path

from tests.apply import test_session
from tests.apply.test_session import edit, run

workdir = test_session.workdir
EXAMPLES = "automations/examples"
HOOK = """  - name: deploy-pipeline
    url: https://deploy.example.com/hooks/wandb
    access_token: DEPLOY_TOKEN          # sent as Authorization: Bearer ...
    secret: DEPLOY_SIGNING_KEY          # signs every request (X-Wandb-Signature)

"""
SECRET = """  - name: DEPLOY_SIGNING_KEY
    from_env: DEPLOY_SIGNING_KEY
    rotation: 1               # bumped when the key was rotated; apply writes it again
"""
PROTECTED = "automation ml-platform/deploy-fraud-detector-to-production"


def _remove_deploy_pipeline(workdir: Path) -> None:
    """Remove the protected automation, its webhook and that webhook's signing secret."""
    (workdir / EXAMPLES / "deploy-on-production.yaml").unlink()
    edit(workdir / EXAMPLES / "team.yaml", HOOK, "")
    edit(workdir / EXAMPLES / "team.yaml", SECRET, "")


def test_what_a_protected_automation_uses_is_kept_not_deleted(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(
        workdir / EXAMPLES / "staging-vs-production.yaml",
        "to: deploy-pipeline",
        "to: staging-deploy",
    )
    _remove_deploy_pipeline(workdir)
    plan = json.loads(run("plan", "--format", "json", "--out", "plan.json").output)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0}
    assert [c["name"] for c in plan["changes"]] == ["route-to-production"]
    assert plan["protected"] == [
        {"kind": "automation", "entity": "ml-platform", "name": PROTECTED.split("/")[1]}
    ]
    assert plan["kept"] == [
        {
            "kind": "secret",
            "entity": "ml-platform",
            "name": "DEPLOY_SIGNING_KEY",
            "message": "still used by webhook ml-platform/deploy-pipeline (kept)",
        },
        {
            "kind": "webhook",
            "entity": "ml-platform",
            "name": "deploy-pipeline",
            "message": f"still used by {PROTECTED} (protected)",
        },
    ]
    text = run("plan").output
    assert (
        "\n".join(
            [
                "Kept (removed from the inventory, but still in use):",
                "    secret ml-platform/DEPLOY_SIGNING_KEY: "
                "still used by webhook ml-platform/deploy-pipeline (kept)",
                f"    webhook ml-platform/deploy-pipeline: still used by {PROTECTED} (protected)",
            ]
        )
        in text
    )
    applied = run("apply", "--plan", "plan.json")
    assert applied.exit_code == 0, applied.output
    assert applied.output.endswith("1 applied, 0 failed, 0 not attempted.\n")
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_retiring_a_protected_automation_as_the_readme_says(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(
        workdir / EXAMPLES / "staging-vs-production.yaml",
        "to: deploy-pipeline",
        "to: staging-deploy",
    )
    # 1. Declare it with `protect: false` and apply: the server's marker loses "protected".
    edit(workdir / EXAMPLES / "deploy-on-production.yaml", "protect: true", "protect: false")
    unprotect = json.loads(run("plan", "--format", "json").output)
    assert [(c["name"], [f["path"] for f in c["fields"]]) for c in unprotect["changes"]] == [
        ("deploy-fraud-detector-to-production", ["protect"]),
        ("route-to-production", ["then.webhook.to"]),
    ]
    assert run("apply", "--fingerprint", unprotect["fingerprint"]).exit_code == 0
    # 2. Remove its block (and what only it used) and apply: now it is deleted.
    _remove_deploy_pipeline(workdir)
    retire = json.loads(run("plan", "--format", "json").output)
    assert [(c["action"], c["kind"], c["name"]) for c in retire["changes"]] == [
        ("delete", "automation", "deploy-fraud-detector-to-production"),
        ("delete", "webhook", "deploy-pipeline"),
        ("delete", "secret", "DEPLOY_SIGNING_KEY"),
    ]
    assert (retire["protected"], retire.get("kept")) == ([], None)
    assert run("apply", "--fingerprint", retire["fingerprint"]).exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0
