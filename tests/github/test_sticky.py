"""`reconcile github comment` and `reviewed-fingerprint` against the fake GitHub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from reconcile.github import api, sticky
from reconcile.github.body import Marker, stale_comment
from tests import markdown_oracle
from tests.github.conftest import golden_plan, no_changes, run, save, variant
from tests.github.fake import BODY_LIMIT, BOT, REPOSITORY, START, TOKEN, FakeGitHub, Fault, stamp

COMMENTS = r"/repos/acme/inventory/issues/7/comments"
SHA = "a" * 40
T = TypeVar("T")


def test_the_first_comment_is_created_then_updated_in_place(github: FakeGitHub) -> None:
    first = golden_plan()
    assert run("github", "comment", "--plan", str(save(first)), "--pr", "7")[0] == 0
    [comment] = github.state.comments[7]
    assert comment["body"].startswith(
        f"<!-- reconcile-plan fingerprint={first['fingerprint']} -->\n"
        "**Plan: 1 to create, 2 to update, 1 to delete.**\n"
    )
    assert comment["body"].count("<details>") == 4
    assert f"Fingerprint: `{first['fingerprint']}`" in comment["body"]

    second = no_changes()
    code, out, _ = run("github", "comment", "--plan", str(save(second)), "--pr", "7")
    assert code == 0
    assert out == f"updated the plan comment on pull request #7: {comment['html_url']}\n"
    [again] = github.state.comments[7]
    assert again["id"] == comment["id"]
    assert again["body"].startswith(f"<!-- reconcile-plan fingerprint={second['fingerprint']}")
    assert "<details>" not in again["body"]
    assert github.state.requests("POST", COMMENTS) == 1
    assert github.state.requests("PATCH", r".*/issues/comments/\d+") == 1


def test_the_pull_request_comes_from_the_event_file(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert run("github", "comment", "--plan", str(save(golden_plan())))[0] == 0
    assert len(github.state.comments[7]) == 1


def test_pages_past_100_comments_are_read_to_find_the_sticky_one(github: FakeGitHub) -> None:
    for index in range(180):
        github.state.add_comment(7, f"review remark {index}", login="reviewer")
    sticky = github.state.add_comment(7, "<!-- reconcile-plan error -->\nold")
    for index in range(70):
        github.state.add_comment(7, f"later remark {index}", login="reviewer")
    assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    assert len(github.state.comments[7]) == 251
    assert github.state.requests("GET", COMMENTS) == 3  # 100 + 100 + 51
    assert github.state.requests("POST", COMMENTS) == 0
    assert sticky["body"].startswith("<!-- reconcile-plan fingerprint=")


def test_a_marker_in_someone_elses_comment_is_not_taken_over(github: FakeGitHub) -> None:
    forged = github.state.add_comment(
        7, "<!-- reconcile-plan fingerprint=" + "0" * 64 + " -->", "mallory"
    )
    assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    assert [c["user"]["login"] for c in github.state.comments[7]] == ["mallory", BOT]
    assert forged["body"].endswith("0" * 64 + " -->")


def test_a_plan_too_long_for_github_is_cut_with_a_pointer_to_the_artifact(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.test")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    base = golden_plan()
    create = base["changes"][1]
    many = [
        {
            **create,
            "name": f"automation-{index:04d}",
            "after": {**create["after"], "description": "x" * 400},
        }
        for index in range(400)
    ]
    document = variant(base, changes=many)
    heading = "A heading longer than any one resource's block. " * 60
    args = ("--plan", str(save(document)), "--pr", "7", "--heading", heading)
    assert run("github", "comment", *args)[0] == 0
    [comment] = github.state.comments[7]
    body = comment["body"]
    assert body.splitlines()[1] == heading
    assert len(body) <= BODY_LIMIT
    assert len(body) > BODY_LIMIT - 2_000  # the room is used, not wasted
    assert "**The plan is too long for a comment and was truncated.**" in body
    assert body.endswith(
        f"Fingerprint: `{document['fingerprint']}`\n\n"
        "[Workflow run](https://github.test/acme/inventory/actions/runs/4242) "
        "(its artifacts hold the JSON plan)\n"
    )


def test_a_long_list_of_unmanaged_objects_cannot_push_the_changes_out(
    github: FakeGitHub,
) -> None:
    # Names on the server are anyone's to choose: 3,000 long ones leave the changes shown.
    unmanaged = [
        {"entity": "ml-platform", "kind": "webhook", "name": f"hand-made-{i:05d}-" + "x" * 200}
        for i in range(3_000)
    ]
    document = variant(golden_plan(), unmanaged=unmanaged)
    assert run("github", "comment", "--plan", str(save(document)), "--pr", "7")[0] == 0
    [comment] = github.state.comments[7]
    seen = markdown_oracle.read(comment["body"])
    assert len(seen.summaries) == len(document["changes"]) == 4
    # As many as fit in 4,000 characters: 16 code spans of 238 and their commas.
    assert (
        "Unmanaged, left alone: "
        + ", ".join(f"webhook ml-platform/{row['name']}" for row in unmanaged[:16])
        + " and 2984 more (the JSON plan lists them all)"
    ) in seen.paragraphs
    assert "truncated" not in comment["body"]


def test_an_error_replaces_the_plan_and_leaves_no_stale_plan(github: FakeGitHub) -> None:
    assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    error = Path("plan.err")
    error.write_text("automations/a.yaml:3:5: webhooks[0].url: plain http ...\n")
    assert run("github", "comment", "--error", str(error), "--pr", "7")[0] == 0
    [comment] = github.state.comments[7]
    assert comment["body"] == (
        "<!-- reconcile-plan error -->\n"
        "**reconcile could not plan this change.** There is no plan to review until the "
        "error below is fixed.\n\n"
        "```\nautomations/a.yaml:3:5: webhooks[0].url: plain http ...\n```\n"
    )


def test_a_huge_error_is_cut_to_fit(github: FakeGitHub) -> None:
    Path("plan.err").write_text("e" * 200_000)
    assert run("github", "comment", "--error", "plan.err", "--pr", "7")[0] == 0
    [comment] = github.state.comments[7]
    assert len(comment["body"]) <= BODY_LIMIT
    assert comment["body"].endswith("e\n[...]\n```\n")


def test_usage_mistakes_are_named_without_a_request(github: FakeGitHub) -> None:
    Path("bad.json").write_text('{"changes": []}')
    cases = {
        ("--pr", "7"): "error: give exactly one of --plan FILE, --error FILE, --stale\n",
        ("--plan", "bad.json", "--pr", "7"): (
            "error: bad.json: not a plan saved by `reconcile plan --out` (no fingerprint, "
            "conflicts, unmanaged, protected, requires_force, has_changes)\n"
        ),
        ("--plan", "missing.json", "--pr", "7"): "error: missing.json: cannot read a JSON plan",
        (
            "--plan",
            "bad.json",
        ): "error: give --pr N, or run in a workflow (GITHUB_EVENT_PATH is not set)\n",
    }
    for args, message in cases.items():
        code, _, err = run("github", "comment", *args)
        assert (code, err[: len(message)]) == (2, message), args
    assert github.state.log == []


def test_missing_token_is_a_usage_error(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    code, _, err = run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")
    assert (code, err) == (2, "error: set GITHUB_TOKEN (in a workflow: ${{ github.token }})\n")


def _merged(github: FakeGitHub, merged_at: str, number: int = 7) -> None:
    github.state.commit_pulls[SHA] = [
        {"number": 3, "merged_at": None, "merge_commit_sha": "b" * 40},
        # an earlier pull request that also contains the commit, merged as another one
        {"number": 5, "merged_at": "2025-12-01T00:00:00Z", "merge_commit_sha": "c" * 40},
        {"number": number, "merged_at": merged_at, "merge_commit_sha": SHA},
    ]


def test_reviewed_fingerprint_is_the_plan_posted_before_the_merge(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = golden_plan()
    assert run("github", "comment", "--plan", str(save(document)), "--pr", "7")[0] == 0
    _merged(github, "2026-01-01T01:00:00Z")
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, out, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, out) == (0, document["fingerprint"] + "\n")
    assert err.startswith("reviewed on pull request #7: https://github.test/")
    assert outputs.read_text() == f"fingerprint={document['fingerprint']}\npr=7\n"


def test_a_plan_comment_written_after_the_merge_was_not_reviewed(github: FakeGitHub) -> None:
    _merged(github, stamp(START))
    assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    code, out, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, out) == (1, "")
    assert err == (
        "error: the plan comment on pull request #7 was written after the merge; "
        "it was never reviewed\n"
    )


def test_no_reviewed_fingerprint_without_a_plan(github: FakeGitHub) -> None:
    code, _, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, err) == (
        1,
        f"error: no pull request was merged as {SHA}: nothing was reviewed for it\n",
    )
    _merged(github, "2026-01-01T01:00:00Z")
    code, _, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, err) == (1, f"error: pull request #7 has no plan comment by {BOT}\n")
    Path("plan.err").write_text("boom")
    assert run("github", "comment", "--error", "plan.err", "--pr", "7")[0] == 0
    code, _, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, err) == (
        1,
        "error: the last plan on pull request #7 failed; there is no reviewed plan\n",
    )
    code, _, err = run("github", "reviewed-fingerprint", "--sha", "abc")
    assert (code, err) == (2, "error: --sha must be a full 40-digit commit SHA, not 'abc'\n")


def test_github_enterprise_servers_api_path_is_kept(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", f"{github.url}/api/v3/")
    for index in range(150):
        github.state.add_comment(7, f"remark {index}", login="reviewer")
    for _ in range(2):
        assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    assert len(github.state.comments[7]) == 151
    assert github.state.requests("GET", "/api/v3" + COMMENTS) == 4
    assert github.state.requests("POST", "/api/v3" + COMMENTS) == 1
    assert {path for _, path in github.state.log} == {
        "/api/v3" + COMMENTS,
        f"/api/v3/repos/acme/inventory/issues/comments/{github.state.comments[7][-1]['id']}",
    }


@pytest.mark.parametrize(
    ("updated_at", "merged_at", "reviewed"),
    [
        # Written in the same second as the merge: before it, as far as GitHub can tell.
        ("2026-01-01T00:00:10Z", "2026-01-01T00:00:10Z", True),
        # Naive (no offset) against aware: a naive one is UTC.
        ("2026-01-01T00:00:05", "2026-01-01T00:00:10Z", True),
        ("2026-01-01T00:00:15", "2026-01-01T00:00:10Z", False),
        ("2026-01-01T00:00:05Z", "2026-01-01T00:00:10", True),
        # Offsets are compared as instants: 01:00:05+02:00 is 23:00:05 the day before.
        ("2026-01-01T01:00:05+02:00", "2026-01-01T00:00:10Z", True),
        ("2025-12-31T23:00:15-01:00", "2026-01-01T00:00:10+00:00", False),
    ],
)
def test_timestamps_are_compared_as_instants_whatever_their_form(
    github: FakeGitHub, updated_at: str, merged_at: str, reviewed: bool
) -> None:
    document = golden_plan()
    assert run("github", "comment", "--plan", str(save(document)), "--pr", "7")[0] == 0
    github.state.comments[7][0]["updated_at"] = updated_at
    _merged(github, merged_at)
    code, out, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    if reviewed:
        assert (code, out) == (0, document["fingerprint"] + "\n")
    else:
        assert (code, out) == (1, "")
        assert "was written after the merge; it was never reviewed" in err


@pytest.mark.parametrize("stamp_", ["yesterday", None, 5])
def test_a_timestamp_that_is_not_one_is_named(github: FakeGitHub, stamp_: object) -> None:
    assert run("github", "comment", "--plan", str(save(golden_plan())), "--pr", "7")[0] == 0
    github.state.comments[7][0]["updated_at"] = stamp_
    _merged(github, "2026-01-01T00:00:10Z")
    code, _, err = run("github", "reviewed-fingerprint", "--sha", SHA)
    assert (code, err) == (1, f"error: GitHub sent a timestamp that is not ISO 8601: {stamp_!r}\n")


def _sticky(fake: FakeGitHub, job: Callable[[api.GitHub], Awaitable[T]]) -> T:
    """`job` run with a client of the fake GitHub, as the commands connect."""

    async def go() -> T:
        async with api.connect(api.Repo(fake.url, REPOSITORY, TOKEN)) as client:
            return await job(client)

    return asyncio.run(go())


def _plan(env: str | None, fingerprint: str, stale: bool = False) -> str:
    return Marker("plan", fingerprint, env, stale).text() + "the plan"


def test_each_inventory_has_its_own_plan_comment_created_then_updated(
    github: FakeGitHub,
) -> None:
    state = github.state
    state.add_comment(7, _plan("prod", "1" * 64), login="mallory")
    state.add_comment(7, "no marker")
    state.comments[7].append({"id": 999, "body": None, "user": None})
    staging = state.add_comment(7, _plan("staging", "2" * 64))
    state.add_comment(7, "<!-- reconcile-plan damaged -->")
    plain = state.add_comment(7, _plan(None, "3" * 64))

    posted = _sticky(github, lambda gh: sticky.post(gh, 7, _plan("prod", "4" * 64), BOT))
    prod = state.comments[7][-1]
    assert posted == sticky.Posted("created", 7, prod["id"], prod["html_url"])
    assert prod["body"] == _plan("prod", "4" * 64)

    def post(text: str) -> sticky.Posted:
        return _sticky(github, lambda gh: sticky.post(gh, 7, text, BOT))

    for env, comment in (("prod", prod), ("staging", staging), (None, plain)):
        text = _plan(env, "5" * 64)
        posted = post(text)
        assert posted == sticky.Posted("updated", 7, comment["id"], comment["html_url"])
        assert comment["body"] == text
    assert [c["body"] for c in state.comments[7][:5:4]] == [
        _plan("prod", "1" * 64),
        "<!-- reconcile-plan damaged -->",
    ]
    assert _sticky(github, lambda gh: sticky.find(gh, 7, BOT, "staging")) == staging
    assert _sticky(github, lambda gh: sticky.find(gh, 7, BOT, "dev")) is None
    assert _sticky(github, lambda gh: sticky.find(gh, 7, "mallory")) is None


def test_only_the_plan_comment_of_the_inventory_is_marked_stale(github: FakeGitHub) -> None:
    state = github.state
    prod = state.add_comment(7, _plan("prod", "1" * 64))
    staging = state.add_comment(7, _plan("staging", "2" * 64))
    state.add_comment(7, _plan("dev", "3" * 64), login="mallory")
    error = state.add_comment(7, "<!-- reconcile-plan env=test error -->\nboom")
    commit = "f" * 40

    def stale(env: str | None) -> sticky.Posted | None:
        return _sticky(github, lambda gh: sticky.mark_stale(gh, 7, BOT, env, commit))

    assert stale("staging") == sticky.Posted("marked stale", 7, staging["id"], staging["html_url"])
    assert staging["body"] == stale_comment(_plan("staging", "2" * 64), commit)
    assert prod["body"] == _plan("prod", "1" * 64)
    assert (stale("dev"), stale("test"), stale(None)) == (None, None, None)
    assert error["body"] == "<!-- reconcile-plan env=test error -->\nboom"
    assert state.requests("PATCH", r".*/issues/comments/\d+") == 1


@pytest.mark.parametrize("bad", [0, "12", None])
def test_a_plan_comment_whose_id_is_not_one_is_named_and_not_written(
    github: FakeGitHub, bad: object
) -> None:
    github.state.add_comment(7, _plan(None, "1" * 64))["id"] = bad
    for job in (
        lambda gh: sticky.post(gh, 7, _plan(None, "2" * 64), BOT),
        lambda gh: sticky.mark_stale(gh, 7, BOT, None, "f" * 40),
    ):
        with pytest.raises(api.GitHubError) as raised:
            _sticky(github, job)
        assert str(raised.value) == (
            f"GitHub sent a comment id that is not a positive integer: {bad!r}"
        )
    assert github.state.requests("PATCH", r".*") == 0
    assert github.state.requests("POST", r".*") == 0


def test_the_reviewed_plan_is_the_one_of_the_inventory_asked_for(github: FakeGitHub) -> None:
    state = github.state
    state.add_comment(7, _plan("staging", "2" * 64, stale=True))
    prod = state.add_comment(7, _plan("prod", "1" * 64))
    state.add_comment(7, _plan(None, "3" * 64))
    state.add_comment(7, "<!-- reconcile-plan env=test error -->\nboom")
    _merged(github, "2099-01-01T00:00:00Z")

    def reviewed(env: str | None) -> sticky.Reviewed:
        return _sticky(github, lambda gh: sticky.reviewed(gh, SHA, BOT, env))

    assert reviewed("prod") == sticky.Reviewed(7, "1" * 64, prod["html_url"])
    assert reviewed(None).fingerprint == "3" * 64
    refusals = {
        "staging": "the plan for inventory staging on pull request #7 is stale: the pull "
        "request changed after it was planned, and no newer plan was posted",
        "test": "the last plan for inventory test on pull request #7 failed; there is no "
        "reviewed plan",
        "dev": f"pull request #7 has no plan comment for inventory dev by {BOT}",
    }
    for env, message in refusals.items():
        with pytest.raises(sticky.NotReviewed) as raised:
            reviewed(env)
        assert str(raised.value) == message


def test_a_pull_request_not_merged_yet_has_its_latest_plan_reviewed(github: FakeGitHub) -> None:
    comment = github.state.add_comment(7, _plan("prod", "1" * 64))
    comment["updated_at"] = "2099-01-01T00:00:00Z"

    def reviewed(pull: dict[str, object]) -> sticky.Reviewed:
        return _sticky(github, lambda gh: sticky.reviewed_on(gh, pull, BOT, "prod"))

    pulls: list[dict[str, object]] = [
        {"number": 7},
        {"number": 7, "merged_at": None},
        {"number": 7, "merged_at": ""},
    ]
    for pull in pulls:
        found = reviewed(pull)
        assert found == sticky.Reviewed(7, "1" * 64, comment["html_url"])


def test_a_pull_request_number_that_is_not_one_is_named(github: FakeGitHub) -> None:
    _merged(github, "2026-01-01T01:00:00Z", number="7")  # type: ignore[arg-type]
    with pytest.raises(api.GitHubError) as raised:
        _sticky(github, lambda gh: sticky.reviewed(gh, SHA, BOT))
    assert str(raised.value) == (
        "GitHub sent a pull request number that is not a positive integer: '7'"
    )
    assert github.state.requests("GET", COMMENTS) == 0


def test_a_refused_update_of_the_plan_comment_names_the_request(github: FakeGitHub) -> None:
    comment = github.state.add_comment(7, _plan(None, "1" * 64))
    path = f"/repos/acme/inventory/issues/comments/{comment['id']}"
    for job in (
        lambda gh: sticky.post(gh, 7, _plan(None, "2" * 64), BOT),
        lambda gh: sticky.mark_stale(gh, 7, BOT, None, "f" * 40),
    ):
        github.state.faults.append(Fault("PATCH", path, 403))
        with pytest.raises(api.GitHubError) as raised:
            _sticky(github, job)
        assert str(raised.value).startswith(f"GitHub answered 403 to PATCH {path}: fault")
    assert comment["body"] == _plan(None, "1" * 64)


def test_a_comment_github_sent_without_its_link_has_an_empty_one(github: FakeGitHub) -> None:
    comment = github.state.add_comment(7, _plan(None, "1" * 64))
    del comment["html_url"]
    posted = _sticky(github, lambda gh: sticky.post(gh, 7, _plan(None, "2" * 64), BOT))
    assert posted == sticky.Posted("updated", 7, comment["id"], "")
    stale = _sticky(github, lambda gh: sticky.mark_stale(gh, 7, BOT, None, "f" * 40))
    assert stale == sticky.Posted("marked stale", 7, comment["id"], "")
    github.state.add_comment(7, _plan("prod", "3" * 64))
    del github.state.comments[7][-1]["html_url"]
    github.state.comments[7][-1]["updated_at"] = "2026-01-01T00:00:00Z"

    def reviewed(merged_at: str | None) -> sticky.Reviewed:
        pull = {"number": 7, "merged_at": merged_at}
        return _sticky(github, lambda gh: sticky.reviewed_on(gh, pull, BOT, "prod"))

    for merged_at in (None, "2026-01-01T00:00:10Z"):
        assert reviewed(merged_at) == sticky.Reviewed(7, "3" * 64, "")


def test_an_answer_whose_comment_id_is_not_one_is_named(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("POST", COMMENTS, 201, body=b'{"id": "12"}'))
    with pytest.raises(api.GitHubError) as raised:
        _sticky(github, lambda gh: sticky.post(gh, 7, _plan(None, "1" * 64), BOT))
    assert str(raised.value) == "GitHub sent a comment id that is not a positive integer: '12'"
