"""`reconcile github drift`: one issue, opened once, updated, closed, against the fake."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from reconcile.github import api
from reconcile.github import drift as drift_
from tests.github.conftest import golden_plan, no_changes, run, save, variant
from tests.github.fake import BOT, REPOSITORY, TOKEN, FakeGitHub, Fault

ISSUES = r"/repos/acme/inventory/issues"


def drift(document: dict[str, object]) -> tuple[int, str]:
    code, out, err = run("github", "drift", "--plan", str(save(document)))
    return code, out + err


def test_no_drift_and_no_issue_does_nothing(github: FakeGitHub) -> None:
    assert drift(no_changes()) == (0, "no drift, and no drift issue open\n")
    assert github.state.issues == {}
    assert [m for m, _ in github.state.log] == ["GET"]


def test_the_drift_issue_is_opened_once_updated_and_closed(github: FakeGitHub) -> None:
    first = golden_plan()
    assert drift(first) == (
        0,
        "opened drift issue #1: https://github.test/acme/inventory/issues/1\n",
    )
    issue = github.state.issues[1]
    assert issue["title"] == "reconcile: the server differs from the inventory"
    assert issue["labels"] == [{"name": "reconcile-drift"}]
    assert issue["body"].startswith(f"<!-- reconcile-drift fingerprint={first['fingerprint']} -->")
    assert "**Plan: 1 to create, 2 to update, 1 to delete.**" in issue["body"]

    second = variant(first, changes=first["changes"][:1])
    assert drift(second) == (
        0,
        "updated drift issue #1: https://github.test/acme/inventory/issues/1\n",
    )
    assert list(github.state.issues) == [1]
    assert issue["body"].startswith(f"<!-- reconcile-drift fingerprint={second['fingerprint']}")
    assert github.state.requests("POST", ISSUES) == 1

    assert drift(no_changes()) == (
        0,
        "closed drift issue #1: https://github.test/acme/inventory/issues/1\n",
    )
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    assert [c["body"] for c in github.state.comments[1]] == [
        "The server matches the inventory again; closing."
    ]

    assert drift(no_changes()) == (0, "no drift, and no drift issue open\n")
    assert drift(first)[1] == "opened drift issue #2: https://github.test/acme/inventory/issues/2\n"
    assert [i["state"] for i in github.state.issues.values()] == ["closed", "open"]


def test_conflicts_alone_are_drift(github: FakeGitHub) -> None:
    conflict = {"entity": "ml-platform", "kind": "webhook", "name": "x", "reason": "not ours"}
    document = variant(no_changes(), conflicts=[conflict])
    assert (
        drift(document)[1] == "opened drift issue #1: https://github.test/acme/inventory/issues/1\n"
    )


def test_issues_of_others_with_the_label_are_left_alone(github: FakeGitHub) -> None:
    github.state.issues[1] = {
        "number": 1,
        "title": "a person's note about drift",
        "body": "<!-- reconcile-drift fingerprint=" + "0" * 64 + " -->",
        "labels": [{"name": "reconcile-drift"}],
        "state": "open",
        "state_reason": None,
        "user": {"login": "someone"},
        "html_url": "https://github.test/acme/inventory/issues/1",
    }
    github.state.next_number = 2
    assert (
        drift(golden_plan())[1]
        == "opened drift issue #2: https://github.test/acme/inventory/issues/2\n"
    )
    assert (
        drift(no_changes())[1]
        == "closed drift issue #2: https://github.test/acme/inventory/issues/2\n"
    )
    assert github.state.issues[1]["state"] == "open"


def test_an_issue_whose_creation_answer_was_lost_is_not_opened_twice(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("POST", ISSUES, 504, after=True))
    assert drift(golden_plan())[1] == (
        "updated drift issue #1: https://github.test/acme/inventory/issues/1\n"
    )
    assert list(github.state.issues) == [1]


def test_a_failed_update_fails_the_command(github: FakeGitHub) -> None:
    assert drift(golden_plan())[0] == 0
    github.state.faults.append(Fault("PATCH", ISSUES + "/1", 403))
    code, output = drift(no_changes())
    assert code == 1
    assert output.startswith(
        "error: GitHub answered 403 to PATCH /repos/acme/inventory/issues/1: fault "
        "(does the workflow's `permissions:` grant"
    )
    github.state.faults.append(Fault("PATCH", ISSUES + "/1", 403))
    code, output = drift(golden_plan())  # an update, this time
    assert code == 1
    assert output.startswith(
        "error: GitHub answered 403 to PATCH /repos/acme/inventory/issues/1: fault "
        "(does the workflow's `permissions:` grant"
    )


def test_a_closing_comment_whose_answer_was_lost_is_not_posted_twice(
    github: FakeGitHub,
) -> None:
    assert drift(golden_plan())[0] == 0
    github.state.faults.append(Fault("POST", ISSUES + "/1/comments", 502, after=True))
    assert drift(no_changes()) == (
        1,
        "error: GitHub answered 502 to POST /repos/acme/inventory/issues/1/comments: fault\n",
    )
    assert [c["body"] for c in github.state.comments[1]] == [drift_.MATCHES_AGAIN]
    assert github.state.requests("POST", ISSUES + "/1/comments") == 1
    assert github.state.issues[1]["state"] == "open"  # closed by the next check


def test_each_inventory_has_its_own_drift_issue_and_a_refused_apply_says_how_to_apply(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("reconcile.yaml").write_text(
        "inventories:\n  prod: {folder: envs/prod}\n  staging: {folder: envs/staging}\n"
    )
    target = {"server": "https://w.example", "entities": ["ml-platform"]}
    plans = {
        env: variant(golden_plan(), target={**target, "env": env, "inventory": f"envs/{env}/"})
        for env in ("prod", "staging")
    }
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", "acme/inventory/.github/workflows/apply.yml@main")
    for env, plan in plans.items():
        path = str(save(plan, f"{env}.json"))
        code, out, err = run("github", "drift", "--env", env, "--plan", path, "--refused")
        assert code == 0, err
    assert [i["title"] for i in github.state.issues.values()] == [
        "reconcile: the server differs from the inventory (prod)",
        "reconcile: the server differs from the inventory (staging)",
    ]
    prod = github.state.issues[1]["body"].split("\n")
    fingerprint = plans["prod"]["fingerprint"]
    assert prod[0] == f"<!-- reconcile-drift env=prod fingerprint={fingerprint} -->"
    assert prod[6] == f"gh workflow run apply.yml -f env=prod -f fingerprint={fingerprint}"
    assert prod[9] == (
        f"or, with the apply key, `reconcile apply --env prod --fingerprint {fingerprint}`."
    )
    assert prod[11:13] == [
        "Inventory: `prod` (`envs/prod/`)  ",
        "Target: `https://w.example`; entities: `ml-platform`  ",
    ]
    # The staging plan, now without drift, closes staging's issue only.
    calm = variant(no_changes(), target=plans["staging"]["target"])
    code, out, _ = run("github", "drift", "--env", "staging", "--plan", str(save(calm)))
    assert (code, out) == (
        0,
        "closed drift issue #2: https://github.test/acme/inventory/issues/2\n",
    )
    assert [i["state"] for i in github.state.issues.values()] == ["open", "closed"]
    code, _, err = run("github", "drift", "--env", "staging", "--plan", "prod.json")
    assert (code, err) == (
        2,
        "error: prod.json is a plan of inventory prod, not of inventory staging\n",
    )


def test_only_labelled_issues_are_the_drift_issue(github: FakeGitHub) -> None:
    marker = "<!-- reconcile-drift fingerprint=" + "0" * 64 + " -->"
    ours = {"state": "open", "state_reason": None, "user": {"login": "github-actions[bot]"}}
    label = [{"name": "reconcile-drift"}]
    github.state.issues = {
        # GitHub lists pull requests among issues; a plan's pull request is not the issue.
        1: {**ours, "number": 1, "body": marker, "labels": label, "pull_request": {}},
        2: {**ours, "number": 2, "body": marker, "labels": []},  # its label was removed
    }
    for number in (1, 2):
        github.state.issues[number]["html_url"] = (
            f"https://github.test/acme/inventory/issues/{number}"
        )
    github.state.next_number = 3
    assert drift(golden_plan())[1] == (
        "opened drift issue #3: https://github.test/acme/inventory/issues/3\n"
    )
    assert [github.state.issues[n]["body"] for n in (1, 2)] == [marker, marker]


def test_an_issue_number_github_should_not_send_is_named_before_any_write(
    github: FakeGitHub,
) -> None:
    marker = "<!-- reconcile-drift fingerprint=" + "0" * 64 + " -->"
    github.state.issues[1] = {
        "number": "1",
        "body": marker,
        "labels": [{"name": "reconcile-drift"}],
        "state": "open",
        "user": {"login": "github-actions[bot]"},
    }
    for document in (no_changes(), golden_plan()):  # to close it, to update it
        github.state.log.clear()
        assert drift(document) == (
            1,
            "error: GitHub sent an issue number that is not a positive integer: '1'\n",
        )
        assert [m for m, _ in github.state.log] == ["GET"]


def test_an_issue_github_sent_without_its_link_is_printed_without_one(
    github: FakeGitHub,
) -> None:
    marker = "<!-- reconcile-drift fingerprint=" + "0" * 64 + " -->"
    github.state.issues[1] = {
        "number": 1,
        "body": marker,
        "labels": [{"name": "reconcile-drift"}],
        "state": "open",
        "user": {"login": "github-actions[bot]"},
    }
    github.state.next_number = 2
    assert drift(golden_plan()) == (0, "updated drift issue #1: \n")
    github.state.faults.append(Fault("POST", ISSUES, 201, body=b'{"number": 9}'))
    staging = variant(golden_plan(), target={"env": "staging"})
    assert _sync(github, staging) == drift_.Drift("opened", 9, "")
    assert drift(no_changes()) == (0, "closed drift issue #1: \n")
    assert github.state.issues[1]["state"] == "closed"


def test_the_drift_issue_links_the_run_that_found_it(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.test")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    link = (
        "\n[Workflow run](https://github.test/acme/inventory/actions/runs/4242) "
        "(its artifacts hold the JSON plan)\n"
    )
    for _ in range(2):  # opened, then updated
        assert drift(golden_plan())[0] == 0
        assert github.state.issues[1]["body"].endswith(link)
    assert list(github.state.issues) == [1]


def _sync(fake: FakeGitHub, document: dict[str, Any]) -> drift_.Drift:
    async def go() -> drift_.Drift:
        async with api.connect(api.Repo(fake.url, REPOSITORY, TOKEN)) as client:
            return await drift_.sync(client, document, BOT, None)

    return asyncio.run(go())


def test_a_lost_create_looks_again_for_the_issue_of_its_own_inventory(github: FakeGitHub) -> None:
    prod = variant(golden_plan(), target={"env": "prod"})
    github.state.faults.append(Fault("POST", ISSUES, 504))  # refused: nothing was created
    assert _sync(github, prod) == drift_.Drift("opened", 1, github.state.issues[1]["html_url"])
    assert list(github.state.issues) == [1]
    github.state.issues[1]["state"] = "closed"
    github.state.faults.append(Fault("POST", ISSUES, 504, after=True))  # created, answer lost
    assert _sync(github, prod) == drift_.Drift("updated", 2, github.state.issues[2]["html_url"])
    assert list(github.state.issues) == [1, 2]


def test_an_opened_issue_whose_number_is_not_one_is_named(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("POST", ISSUES, 201, body=b'{"number": "1"}'))
    assert drift(golden_plan()) == (
        1,
        "error: GitHub sent an issue number that is not a positive integer: '1'\n",
    )


def test_a_damaged_marker_is_the_default_inventorys_issue_and_no_other(
    github: FakeGitHub,
) -> None:
    # Someone edited the issue and broke its marker. Without reconcile.yaml there is one
    # inventory: the issue is still its drift issue, updated (with a whole marker again)
    # and closed in turn, rather than left open beside a second one. A named inventory
    # cannot tell the issue is its own: it leaves it alone.
    github.state.issues[1] = {
        "number": 1,
        "title": "reconcile: the server differs from the inventory",
        "body": "<!-- reconcile-drift broken -->\nedited by hand",
        "labels": [{"name": "reconcile-drift"}],
        "state": "open",
        "user": {"login": BOT},
        "html_url": "https://github.test/acme/inventory/issues/1",
    }
    github.state.next_number = 2
    prod = variant(golden_plan(), target={"env": "prod"})
    assert _sync(github, prod) == drift_.Drift(
        "opened", 2, "https://github.test/acme/inventory/issues/2"
    )
    assert github.state.issues[1]["body"] == "<!-- reconcile-drift broken -->\nedited by hand"
    document = golden_plan()
    assert drift(document) == (
        0,
        "updated drift issue #1: https://github.test/acme/inventory/issues/1\n",
    )
    assert github.state.issues[1]["body"].startswith(
        f"<!-- reconcile-drift fingerprint={document['fingerprint']} -->\n"
    )
    assert drift(no_changes()) == (
        0,
        "closed drift issue #1: https://github.test/acme/inventory/issues/1\n",
    )
    assert [i["state"] for i in github.state.issues.values()] == ["closed", "open"]
