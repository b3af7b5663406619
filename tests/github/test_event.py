"""The workflow's event: the file read, the files a change touches (listed by the fake
GitHub), the commit planned, and the pull request a merge-queue entry is for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconcile.core.errors import UsageError
from reconcile.github import api, event
from reconcile.github.body import Planned
from tests.github.conftest import in_ascii_locale
from tests.github.fake import FakeGitHub, Fault
from tests.github.test_api import call

BASE, HEAD = "a" * 40, "b" * 40
QUEUE_REF = f"refs/heads/gh-readonly-queue/main/pr-7-{BASE}"
COMPARE = rf"/repos/acme/inventory/compare/{BASE}\.\.\.{HEAD}"


def _saved(tmp_path: Path, payload: object, name: str = "event.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_the_event_file_is_read_or_named_exactly(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"pull_request": {"number": 7}})
    assert event.Event.from_env({"GITHUB_EVENT_PATH": path}) == event.Event(
        "", {"pull_request": {"number": 7}}
    )
    named = event.Event.from_env({"GITHUB_EVENT_PATH": path, "GITHUB_EVENT_NAME": "push"})
    assert named.name == "push"
    listed = _saved(tmp_path, [7], "list.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    for env, message in (
        ({}, "run in a workflow: GITHUB_EVENT_PATH is not set"),
        ({"GITHUB_EVENT_PATH": listed}, f"{listed}: the event is not a JSON object"),
        (
            {"GITHUB_EVENT_PATH": str(broken)},
            f"{broken}: cannot read the event file (Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1))",
        ),
    ):
        with pytest.raises(UsageError) as refused:
            event.Event.from_env(env)
        assert str(refused.value) == message


def test_the_event_file_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"pull_request": {"number": 7, "title": "Café ✓"}})
    script = (
        "import sys; from reconcile.github import event; "
        "print(event.Event.from_env({'GITHUB_EVENT_PATH': sys.argv[1]}).payload['pull_request']"
        "['number'])"
    )
    assert in_ascii_locale(script, path) == "7\n"


def test_a_section_is_an_object_or_empty() -> None:
    happened = event.Event("push", {"head_commit": {"id": HEAD}, "pusher": "someone"})
    assert happened.section("head_commit") == {"id": HEAD}
    assert happened.section("pusher") == {}
    assert happened.section("pull_request") == {}


def _changed(github: FakeGitHub, name: str, payload: dict[str, Any]) -> list[str] | None:
    return call(github, lambda gh: event.changed_files(gh, event.Event(name, payload)))


@pytest.mark.parametrize("name", ["pull_request", "pull_request_target"])
def test_a_pull_request_touches_the_files_it_changes_on_every_page(
    github: FakeGitHub, name: str
) -> None:
    github.state.pull_files[7] = [f"envs/prod/{index}.yaml" for index in range(150)]
    files = r"/repos/acme/inventory/pulls/7/files"
    assert _changed(github, name, {"pull_request": {"number": 7}}) == (github.state.pull_files[7])
    assert github.state.requests("GET", files) == 2  # 100 a page: GitHub's largest
    with pytest.raises(UsageError) as refused:
        _changed(github, name, {"pull_request": {"number": "7"}})
    assert str(refused.value) == "the pull_request event has no pull request number"


def test_a_renamed_file_touches_its_old_path_too(github: FakeGitHub) -> None:
    listed = [
        {"filename": "envs/staging/a.yaml", "previous_filename": "envs/prod/a.yaml"},
        {"filename": "README.md", "previous_filename": ""},
        {"filename": "", "previous_filename": "envs/qa/b.yaml"},
        "not a file",
    ]
    github.state.faults.append(
        Fault("GET", COMPARE, 200, body=json.dumps({"files": listed}).encode())
    )
    assert _changed(github, "push", {"before": BASE, "after": HEAD}) == [
        "envs/staging/a.yaml",
        "envs/prod/a.yaml",
        "README.md",
        "envs/qa/b.yaml",
    ]


def test_a_push_and_a_merge_group_touch_what_their_commits_compare(github: FakeGitHub) -> None:
    github.state.compared[f"{BASE}...{HEAD}"] = ["envs/prod/a.yaml"]
    group = {"merge_group": {"base_sha": BASE, "head_sha": HEAD, "head_ref": QUEUE_REF}}
    assert _changed(github, "push", {"before": BASE, "after": HEAD}) == ["envs/prod/a.yaml"]
    assert _changed(github, "merge_group", group) == ["envs/prod/a.yaml"]
    assert github.state.requests("GET", COMPARE) == 2


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("schedule", {"before": BASE, "after": HEAD}),
        ("workflow_dispatch", {"before": BASE, "after": HEAD}),
        ("push", {"before": "0" * 40, "after": HEAD}),  # a new branch
        ("push", {"before": BASE}),
        ("push", {"before": BASE, "after": 7}),
        ("push", {"before": None, "after": HEAD}),
        ("merge_group", {"before": BASE, "after": HEAD}),
        ("merge_group", {"merge_group": {"base_sha": BASE}}),
        ("merge_group", {"merge_group": {"head_sha": HEAD}}),
    ],
)
def test_a_change_without_two_commits_touches_everything_and_asks_nothing(
    github: FakeGitHub, name: str, payload: dict[str, Any]
) -> None:
    assert _changed(github, name, payload) is None
    assert github.state.log == []


@pytest.mark.parametrize(("count", "touched"), [(299, True), (300, False)])
def test_a_compare_listing_github_may_have_cut_touches_everything(
    github: FakeGitHub, count: int, touched: bool
) -> None:
    github.state.compared[f"{BASE}...{HEAD}"] = [f"f{index}" for index in range(count)]
    found = _changed(github, "push", {"before": BASE, "after": HEAD})
    assert found == ([f"f{index}" for index in range(count)] if touched else None)


@pytest.mark.parametrize("answer", [b"[]", b'{"files": {}}', b'{"status": "ahead"}'])
def test_a_compare_answer_without_a_file_list_touches_everything(
    github: FakeGitHub, answer: bytes
) -> None:
    github.state.faults.append(Fault("GET", COMPARE, 200, body=answer))
    assert _changed(github, "push", {"before": BASE, "after": HEAD}) is None


def test_the_commit_planned_and_the_head_it_merges() -> None:
    pull = event.Event("pull_request", {"pull_request": {"number": 7, "head": {"sha": HEAD}}})
    assert event.planned(pull, BASE) == Planned(BASE, HEAD)
    for payload in (
        {"pull_request": {"number": 7, "head": {"sha": 7}}},
        {"pull_request": {"number": 7, "head": HEAD}},
        {"after": HEAD},
    ):
        assert event.planned(event.Event("push", payload), BASE) == Planned(BASE, None)
    assert event.planned(event.Event("push", {}), None) == Planned(None, None)


def test_a_merge_queue_entry_names_its_pull_request() -> None:
    ref = f"refs/heads/gh-readonly-queue/release/v2/pr-1234-{BASE}"
    assert event.queued_pull(event.Event("merge_group", {"merge_group": {"head_ref": ref}})) == (
        1234
    )
    refused = "run on a merge_group event: its head_ref names the pull request queued (event {})"
    for name, ref in (
        ("push", QUEUE_REF),
        ("", QUEUE_REF),
        ("merge_group", f"refs/heads/gh-readonly-queue/main/pr-7-{BASE[:39]}"),
        ("merge_group", f"refs/heads/gh-readonly-queue/main/pr-7-{BASE}x"),
        ("merge_group", f"x/refs/heads/gh-readonly-queue/main/pr-7-{BASE}"),
        ("merge_group", f"refs/heads/gh-readonly-queue/main/pr-x-{BASE}"),
        ("merge_group", f"refs/heads/gh-readonly-queue//pr-7-{BASE}"),
        ("merge_group", 7),
    ):
        happened = event.Event(name, {"merge_group": {"head_ref": ref}})
        with pytest.raises(UsageError) as error:
            event.queued_pull(happened)
        assert str(error.value) == refused.format(name or "unknown"), (name, ref)


def test_a_compare_github_refuses_is_an_error_naming_it(github: FakeGitHub) -> None:
    with pytest.raises(api.GitHubError) as refused:
        _changed(github, "push", {"before": BASE, "after": HEAD})
    assert str(refused.value) == (
        f"GitHub answered 404 to GET /repos/acme/inventory/compare/{BASE}...{HEAD}: Not Found "
        "(is GITHUB_REPOSITORY right, and can the token see it?)"
    )
