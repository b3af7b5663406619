"""A monorepo with envs/prod and envs/staging against two servers on loopback: the loop
plans only the inventories a change touches, comments once per inventory, applies the
reviewed plan of each after the merge, and checks the merge queue's exact tree.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from reconcile.apply.target import embedded_key
from reconcile.cli.github import QUEUE_HEADING
from reconcile.github import body
from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database
from tests.github.conftest import run
from tests.github.fake import START, FakeGitHub, stamp
from tests.server.live import running

ROOT = Path(__file__).resolve().parents[2]
BEFORE, HEAD, SHA, QUEUED = "a" * 40, "b" * 40, "c" * 40, "e" * 40
FAILED_RUN = "envs/prod/automations/examples/run-failed.yaml"
SECRETS = ("DEPLOY_TOKEN", "DEPLOY_SIGNING_KEY", "TRACKER_TOKEN", "GH_DISPATCH_TOKEN")
ENVS = ("prod", "staging")


@dataclass(frozen=True)
class Keys:
    """Per server: the URL, a team member's key (plan) and the admin's key (apply)."""

    url: dict[str, str]
    reader: dict[str, str]
    writer: dict[str, str]


def _seed(db_path: Path) -> tuple[str, str]:
    """A server's database with the examples applied; its admin key and a member's key."""
    writer = embedded_key(db_path)
    assert run("apply", "automations", "--db", str(db_path), "--auto-approve")[0] == 0
    db = Database(db_path)
    try:
        admin.create_user(db, "reviewer")
        admin.set_role(db, "ml-platform", "reviewer", "member")
        reader = admin.create_api_key(db, "reviewer", "plan in CI")
    finally:
        db.close()
    return writer, reader


@pytest.fixture
def monorepo(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keys]:
    """Two servers, each with the examples applied, and the repository that manages them."""
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in (*SECRETS, "TEAMS_SIGNING_KEY"):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    monkeypatch.setenv("SLACK_ML_MODELS_URL", "https://hooks.example.com/slack")
    monkeypatch.setenv("NO_COLOR", "1")
    shutil.copytree(ROOT / "automations", Path("automations"))
    keys: dict[str, tuple[str, str]] = {env: _seed(Path(f"{env}.db")) for env in ENVS}
    for env in ENVS:
        shutil.copytree("automations", f"envs/{env}/automations")
    shutil.rmtree("automations")
    with ExitStack() as stack:
        urls = {env: stack.enter_context(running(Path(f"{env}.db"))).url for env in ENVS}
        Path("reconcile.yaml").write_text(
            "inventories:\n"
            + "".join(
                f"  {env}:\n    folder: envs/{env}/automations\n    server: {urls[env]}\n"
                f"    api_key_env: {env.upper()}_WANDB_API_KEY\n"
                for env in ENVS
            )
        )
        yield Keys(
            urls,
            {env: keys[env][1] for env in ENVS},
            {env: keys[env][0] for env in ENVS},
        )


def event(monkeypatch: pytest.MonkeyPatch, name: str, payload: dict[str, object]) -> None:
    path = Path(f"event-{name}.json")
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))


def use_keys(monkeypatch: pytest.MonkeyPatch, keys: dict[str, str]) -> None:
    """A job's secrets: the plan job gets the members' keys, the apply job the writers'."""
    for env, key in keys.items():
        monkeypatch.setenv(f"{env.upper()}_WANDB_API_KEY", key)


def touched(outputs: Path) -> list[str]:
    [line] = [x for x in outputs.read_text().splitlines() if x.startswith("roots=")]
    names: list[str] = json.loads(line.removeprefix("roots="))
    return names


def plan_job(monkeypatch: pytest.MonkeyPatch, keys: Keys, github: FakeGitHub) -> list[str]:
    """The pull request's plan job: each inventory touched planned with a member's key and
    posted as its own comment. The roots it planned."""
    use_keys(monkeypatch, keys.reader)
    outputs = Path("outputs")
    outputs.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert run("github", "roots")[0] == 0
    planned = touched(outputs)
    for env in planned:
        code, out, err = run("plan", "--env", env, "--out", f"plan-{env}.json")
        assert code == 0, out + err
        code, out, err = run("github", "comment", "--env", env, "--plan", f"plan-{env}.json")
        assert code == 0, err
    return planned


def merge(monkeypatch: pytest.MonkeyPatch, github: FakeGitHub, files: list[str]) -> None:
    github.state.commit_pulls[SHA] = [
        {"number": 7, "merged_at": stamp(START + timedelta(hours=1)), "merge_commit_sha": SHA}
    ]
    github.state.compared[f"{BEFORE}...{SHA}"] = files
    github.state.ticks += 7200
    event(monkeypatch, "push", {"before": BEFORE, "after": SHA})
    monkeypatch.setenv("GITHUB_SHA", SHA)


def open_pull_request(
    monkeypatch: pytest.MonkeyPatch, github: FakeGitHub, files: list[str]
) -> None:
    github.state.pull_files[7] = files
    event(monkeypatch, "pull_request", {"pull_request": {"number": 7, "head": {"sha": HEAD}}})
    monkeypatch.setenv("GITHUB_SHA", "d" * 40)


def test_removing_an_automation_from_prod_deletes_it_on_prod_only(
    monorepo: Keys, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(FAILED_RUN).unlink()
    open_pull_request(monkeypatch, github, [FAILED_RUN])
    assert plan_job(monkeypatch, monorepo, github) == ["prod"]
    [comment] = github.state.comments[7]
    document = json.loads(Path("plan-prod.json").read_text())
    assert comment["body"].split("\n")[:6] == [
        f"<!-- reconcile-plan env=prod fingerprint={document['fingerprint']} -->",
        "Inventory: `prod` (`envs/prod/automations/`)  ",
        f"Target: `{monorepo.url['prod']}`; entities: `ml-platform`  ",
        f"Commit planned: `{'d' * 40}` (the pull request's head `{HEAD}`)  ",
        "",
        "**Plan: 0 to create, 0 to update, 1 to delete.**",
    ]
    assert comment["body"].split("\n")[7:12] == [
        "<details><summary>- delete automation "
        "<code>ml-platform/alert-on-failed-training-run</code></summary>",
        "",
        "```diff",
        '- description: "Page the team\'s Slack channel when a training run fails or crashes."',
        '- scope.team: "ml-platform"',
    ]
    # The member's key sees webhook URLs masked: the plan says so, and its fingerprint
    # (which leaves that out) is still the one the writer's key applies below.
    assert comment["body"].count("could not be compared with this key") == 6

    # After the merge, the apply job: the roots the push touched, each reviewed plan.
    merge(monkeypatch, github, [FAILED_RUN])
    use_keys(monkeypatch, monorepo.writer)
    outputs = Path("outputs")
    outputs.write_text("")
    code, out, _ = run("github", "roots")
    assert (code, out, touched(outputs)) == (0, "prod (envs/prod/automations/)\n", ["prod"])
    code, fingerprint, err = run("github", "reviewed-fingerprint", "--env", "prod", "--sha", SHA)
    assert (code, fingerprint) == (0, document["fingerprint"] + "\n"), err
    code, out, err = run("apply", "--env", "prod", "--fingerprint", fingerprint.strip())
    assert code == 0, err
    assert out.endswith("1 applied, 0 failed, 0 not attempted.\n")

    # Prod no longer has it; staging, which declares it still, has all it had.
    for env in ENVS:
        code, out, _ = run("plan", "--env", env)
        assert (code, out.splitlines()[1]) == (0, "No changes. The server matches the inventory.")
    assert _automations("prod.db") == 15
    assert _automations("staging.db") == 16


def _automations(db_path: str) -> int:
    db = Database(Path(db_path))
    try:
        with db.read() as con:
            [(count,)] = con.execute("SELECT COUNT(*) FROM triggers").fetchall()
    finally:
        db.close()
    return int(count)


def test_a_change_to_both_inventories_has_one_comment_each_updated_in_place(
    monorepo: Keys, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [FAILED_RUN, "envs/staging/automations/examples/team.yaml"]
    Path(FAILED_RUN).unlink()
    open_pull_request(monkeypatch, github, files)
    assert plan_job(monkeypatch, monorepo, github) == ["prod", "staging"]
    assert plan_job(monkeypatch, monorepo, github) == ["prod", "staging"]
    markers = [body.read_marker(c["body"]) for c in github.state.comments[7]]
    assert [(m.env, m.stale) for m in markers if m] == [("prod", False), ("staging", False)]
    assert github.state.requests("POST", r"/repos/acme/inventory/issues/7/comments") == 2
    assert github.state.requests("PATCH", r"/repos/acme/inventory/issues/comments/\d+") == 2

    # A push to the pull request: the plans say they are stale until planned again.
    event(monkeypatch, "pull_request", {"pull_request": {"number": 7, "head": {"sha": "f" * 40}}})
    code, out, _ = run("github", "comment", "--env", "staging", "--stale")
    assert (code, out.split(": https")[0]) == (
        0,
        "marked the plan comment of inventory staging on pull request #7 stale",
    )
    staging = github.state.comments[7][1]["body"]
    assert staging.split("\n")[1] == (
        f"**This plan is stale:** the pull request changed after it was planned (it is now "
        f"at `{'f' * 40}`). A new plan is on its way; do not merge on this one."
    )
    merge(monkeypatch, github, files)
    code, _, err = run("github", "reviewed-fingerprint", "--env", "staging", "--sha", SHA)
    assert (code, err) == (
        1,
        "error: the plan for inventory staging on pull request #7 is stale: the pull request "
        "changed after it was planned, and no newer plan was posted\n",
    )
    assert run("github", "reviewed-fingerprint", "--env", "prod", "--sha", SHA)[0] == 0


def test_a_refused_apply_posts_the_new_plan_with_the_command_that_applies_it(
    monorepo: Keys, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(FAILED_RUN).unlink()
    open_pull_request(monkeypatch, github, [FAILED_RUN])
    plan_job(monkeypatch, monorepo, github)
    merge(monkeypatch, github, [FAILED_RUN])
    use_keys(monkeypatch, monorepo.writer)
    # Someone deletes another automation on prod by hand after the review.
    Path("envs/prod/automations/examples/slack-blocks.yaml").unlink()
    fingerprint = run("github", "reviewed-fingerprint", "--env", "prod", "--sha", SHA)[1]
    code, _, err = run("apply", "--env", "prod", "--fingerprint", fingerprint.strip())
    assert code == 3, err
    assert run("plan", "--env", "prod", "--out", "now.json")[0] == 0
    now = json.loads(Path("now.json").read_text())["fingerprint"]
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", "acme/inventory/.github/workflows/apply.yml@main")
    code, out, err = run(
        "github", "comment", "--env", "prod", "--plan", "now.json", "--pr", "7", "--refused"
    )
    assert (code, out.split(": https")[0]) == (
        0,
        "updated the plan comment of inventory prod on pull request #7",
    )
    [comment] = github.state.comments[7]
    assert comment["body"].split("\n")[1:9] == [
        "**Not applied after the merge:** apply refused the reviewed plan, because the plan "
        "changed since the review (the workflow run says how). Nothing was applied. This is "
        "the plan of the default branch now; review it, then run the workflow by hand with "
        "its fingerprint:",
        "",
        "```",
        f"gh workflow run apply.yml -f env=prod -f fingerprint={now}",
        "```",
        "",
        f"or, with the apply key, `reconcile apply --env prod --fingerprint {now}`.",
        "",
    ]
    # Nobody reviewed it: applying after the merge still needs a person to run it.
    assert run("github", "reviewed-fingerprint", "--env", "prod", "--sha", SHA)[0] == 1


def test_the_merge_queue_checks_the_plan_of_the_tree_it_merges(
    monorepo: Keys, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(FAILED_RUN).unlink()
    open_pull_request(monkeypatch, github, [FAILED_RUN])
    plan_job(monkeypatch, monorepo, github)
    queue_ref = f"refs/heads/gh-readonly-queue/main/pr-7-{BEFORE}"
    event(
        monkeypatch,
        "merge_group",
        {"merge_group": {"head_ref": queue_ref, "head_sha": QUEUED, "base_sha": BEFORE}},
    )
    github.state.compared[f"{BEFORE}...{QUEUED}"] = [FAILED_RUN]
    assert run("github", "roots")[1] == "prod (envs/prod/automations/)\n"
    assert run("plan", "--env", "prod", "--out", "queued.json")[0] == 0
    code, out, _ = run("github", "queue", "--env", "prod", "--plan", "queued.json")
    assert (code, out) == (
        0,
        "the queued plan of inventory prod is the one reviewed on pull request #7\n",
    )

    # main moved on under the queue: the tree it would merge plans differently.
    Path("envs/prod/automations/examples/slack-blocks.yaml").unlink()
    assert run("plan", "--env", "prod", "--out", "queued.json")[0] == 0
    queued = json.loads(Path("queued.json").read_text())["fingerprint"]
    code, _, err = run("github", "queue", "--env", "prod", "--plan", "queued.json")
    assert code == 3
    assert err.startswith(
        f"refused: the plan of inventory prod of the queued tree ({queued[:12]}) is not the "
        "one reviewed on pull request #7 ("
    )
    [comment] = github.state.comments[7]
    assert comment["body"].split("\n")[:3] == [
        f"<!-- reconcile-plan env=prod fingerprint={queued} -->",
        QUEUE_HEADING,
        "",
    ]
    assert f"Commit planned: `{QUEUED}`  " in comment["body"]


def test_the_roots_of_a_change(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("reconcile.yaml").write_text(
        "inventories:\n  prod: {folder: envs/prod}\n  staging: {folder: envs/staging}\n"
    )
    outputs = Path("outputs")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    cases = [
        (["README.md"], []),
        (["envs/staging/a.yaml", "envs/staging/b.yaml"], ["staging"]),
        (["envs/prod/a.yaml", "envs/production/b.yaml"], ["prod"]),
        (["reconcile.yaml"], ["prod", "staging"]),
    ]
    for number, (files, expected) in enumerate(cases, start=1):
        github.state.pull_files[number] = files
        event(monkeypatch, "pull_request", {"pull_request": {"number": number}})
        outputs.write_text("")
        code, out, _ = run("github", "roots")
        assert (code, touched(outputs)) == (0, expected), files
        assert out == "".join(f"{env} (envs/{env}/)\n" for env in expected)
    # A schedule checks every inventory; a run by hand, the one it names.
    event(monkeypatch, "schedule", {})
    outputs.write_text("")
    assert run("github", "roots")[0] == 0
    assert touched(outputs) == ["prod", "staging"]
    event(monkeypatch, "workflow_dispatch", {"inputs": {"env": "staging"}})
    outputs.write_text("")
    assert run("github", "roots")[0] == 0
    assert touched(outputs) == ["staging"]
    event(monkeypatch, "workflow_dispatch", {"inputs": {"env": "qa"}})
    code, _, err = run("github", "roots")
    assert (code, err) == (2, "error: the run's env input 'qa' is no inventory of reconcile.yaml\n")
