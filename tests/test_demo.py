"""The demo's runtime part (`scripts/demo-events.sh`, the end of `scripts/demo.sh`) in a
copy of the project: a shipped example automation fires, the receiver verifies it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "DEPLOY_TOKEN": "demo-deploy-token",
    "DEPLOY_SIGNING_KEY": "demo-signing-key",
    "TRACKER_TOKEN": "demo-tracker-token",
    "GH_DISPATCH_TOKEN": "demo-github-token",
    "TEAMS_SIGNING_KEY": "demo-teams-key",
    "SLACK_ML_MODELS_URL": "https://hooks.slack.com/services/T000/B000/demo",
}


def test_demo_fires_an_example_automation_at_a_verifying_receiver(tmp_path: Path) -> None:
    for folder in ("automations", "scripts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILE", "WANDB"))}
    env |= SECRETS | {"RECONCILE": str(Path(sys.executable).parent / "reconcile")}
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["bash", "scripts/demo-events.sh"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    fired = [line for line in out if line.startswith("event ")]
    assert len(fired) == 1
    assert fired[0].endswith(": fired deploy-fraud-detector-to-production")
    assert any(line.endswith("delivered after 1 attempt") for line in out)
    # The alias event's delivery, the training run's (route-to-production), and the
    # promotion of the model the run logged and linked into the registry.
    assert out.count("  X-Wandb-Signature: valid · webhook-signature: valid · token: valid") == 3
    run = [line for line in out if '"environment":"production","run_id"' in line]
    assert len(run) == 1
    version = '"version":"ml-platform-org/wandb-registry-model/fraud-detector:v0"'
    promoted = [line for line in out if '"event":"ADD_ARTIFACT_ALIAS"' in line and version in line]
    assert len(promoted) == 1
    assert "  authorization: Bearer ***" in out
    assert SECRETS["DEPLOY_TOKEN"] not in done.stdout
    # The examples stay as they are; the main database is not touched.
    assert not (tmp_path / ".reconcile" / "server.db").exists()
    assert (ROOT / "automations/examples/team.yaml").read_text() == (
        tmp_path / "automations/examples/team.yaml"
    ).read_text()
