"""The GitOps loop end to end: plan on the pull request, apply exactly what was reviewed
after the merge, against the embedded server and the fake GitHub.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests.github.conftest import run
from tests.github.fake import START, FakeGitHub, stamp

ROOT = Path(__file__).resolve().parents[2]
SHA = "d" * 40
SECRETS = ("DEPLOY_TOKEN", "DEPLOY_SIGNING_KEY", "TRACKER_TOKEN", "GH_DISPATCH_TOKEN")


@pytest.fixture
def checkout(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    shutil.copytree(ROOT / "automations", Path("automations"))
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in (*SECRETS, "TEAMS_SIGNING_KEY"):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    monkeypatch.setenv("SLACK_ML_MODELS_URL", "https://hooks.example.com/slack")
    return github


def merge(github: FakeGitHub) -> None:
    merged_at = stamp(START + timedelta(hours=1))
    github.state.commit_pulls[SHA] = [
        {"number": 7, "merged_at": merged_at, "merge_commit_sha": SHA}
    ]
    github.state.ticks += 7200  # later writes happen after the merge


def test_after_the_merge_exactly_the_reviewed_plan_is_applied(checkout: FakeGitHub) -> None:
    assert run("plan", "--out", "plan.json")[0] == 0
    assert run("github", "comment", "--plan", "plan.json", "--pr", "7")[0] == 0
    merge(checkout)
    code, fingerprint, _ = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert code == 0
    code, out, _ = run("apply", "--fingerprint", fingerprint.strip())
    assert code == 0, out
    assert out.endswith("28 applied, 0 failed, 0 not attempted.\n")


def test_a_plan_that_changed_after_review_is_refused_and_posted_again(
    checkout: FakeGitHub,
) -> None:
    assert run("plan", "--out", "plan.json")[0] == 0
    assert run("github", "comment", "--plan", "plan.json", "--pr", "7")[0] == 0
    merge(checkout)
    # Another change reached main after this review.
    team = Path("automations/examples/team.yaml")
    team.write_text(team.read_text().replace("rotation: 1", "rotation: 2", 1))
    fingerprint = run("github", "reviewed-fingerprint", "--sha", SHA)[1].strip()
    code, _, err = run("apply", "--fingerprint", fingerprint)
    assert code == 3
    assert "the plan has changed since it was reviewed" in err
    assert run("plan", "--out", "now.json")[0] == 0
    heading = "**Not applied:** the plan changed after review. This is the plan now."
    assert run("github", "comment", "--plan", "now.json", "--pr", "7", "--heading", heading)[0] == 0
    [comment] = checkout.state.comments[7]
    assert comment["body"].splitlines()[1] == heading
    # The new plan was posted after the merge: nobody reviewed it, so it is not applied.
    code, _, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert code == 1
    assert "was written after the merge" in err
