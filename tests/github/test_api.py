"""The GitHub client: environment, pagination, retries and errors, against the fake."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reconcile.client.transport import RetryPolicy, Unreachable
from reconcile.core.errors import UsageError
from reconcile.github import api, sticky
from tests.github.conftest import in_ascii_locale
from tests.github.fake import REPOSITORY, TOKEN, FakeGitHub, Fault

FAST = RetryPolicy(attempts=4, scale=0.0)
COMMENTS = r"/repos/acme/inventory/issues/7/comments"
T = TypeVar("T")


def call(
    fake: FakeGitHub,
    job: Callable[[api.GitHub], Awaitable[T]],
    url: str = "",
    policy: RetryPolicy = FAST,
    **bounds: Any,
) -> T:
    repo = api.Repo(url or fake.url, REPOSITORY, TOKEN)

    async def run() -> T:
        async with api.connect(repo, policy, **bounds) as github:
            return await job(github)

    return asyncio.run(run())


def comments(gh: api.GitHub) -> Awaitable[list[Any]]:
    return gh.pages(gh.path("issues", 7, "comments"))


def test_repo_from_env_names_what_is_missing() -> None:
    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/inventory"}
    assert api.Repo.from_env(env) == api.Repo("https://api.github.com", "acme/inventory", "t")
    with_url = {**env, "GITHUB_API_URL": "https://ghe.example.com/api/v3/"}
    assert api.Repo.from_env(with_url).api_url == "https://ghe.example.com/api/v3"
    for broken, message in (
        ({**env, "GITHUB_REPOSITORY": "acme"}, "GITHUB_REPOSITORY must be OWNER/NAME, not 'acme'"),
        ({**env, "GITHUB_API_URL": "ftp://x"}, "GITHUB_API_URL must be an http(s) URL"),
        ({"GITHUB_REPOSITORY": "acme/inventory"}, "set GITHUB_TOKEN"),
        (
            {**env, "GITHUB_REPOSITORY": "../.."},
            "GITHUB_REPOSITORY must be OWNER/NAME, not '../..'",
        ),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            api.Repo.from_env(broken)


def test_the_pull_request_number_from_the_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"issue": {"number": 12}}))
    assert api.pull_request_number({"GITHUB_EVENT_PATH": str(event)}, None) == 12
    assert api.pull_request_number({"GITHUB_EVENT_PATH": str(event)}, 3) == 3
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    with pytest.raises(UsageError, match="the event has no pull request; give --pr N"):
        api.pull_request_number({"GITHUB_EVENT_PATH": str(event)}, None)
    event.write_text("[12]")
    with pytest.raises(UsageError, match="the event has no pull request; give --pr N"):
        api.pull_request_number({"GITHUB_EVENT_PATH": str(event)}, None)
    event.write_text("{")
    with pytest.raises(UsageError, match="cannot read the event file"):
        api.pull_request_number({"GITHUB_EVENT_PATH": str(event)}, None)


def test_the_event_file_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    payload = {"pull_request": {"number": 12, "title": "Café ✓"}}
    event.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    script = (
        "import sys; from reconcile.github import api; "
        "print(api.pull_request_number({'GITHUB_EVENT_PATH': sys.argv[1]}, None))"
    )
    assert in_ascii_locale(script, str(event)) == "12\n"


def test_every_page_is_read(github: FakeGitHub) -> None:
    for index in range(201):
        github.state.add_comment(7, f"c{index}")
    comments = call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments")))
    assert [c["body"] for c in comments] == [f"c{i}" for i in range(201)]
    assert github.state.requests("GET", COMMENTS) == 3


def test_a_next_page_on_another_host_is_refused(github: FakeGitHub) -> None:
    for index in range(101):
        github.state.add_comment(7, f"c{index}")
    # The same fake under another name: its Link headers then name 127.0.0.1, not localhost.
    url = github.url.replace("127.0.0.1", "localhost")
    with pytest.raises(api.GitHubError, match=r"next page is on another host \(127.0.0.1\)"):
        call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments")), url)
    assert github.state.requests("GET", COMMENTS) == 1


def test_a_next_page_that_does_not_advance_is_refused(github: FakeGitHub) -> None:
    for index in range(250):
        github.state.add_comment(7, f"c{index}")
    github.state.stuck = True
    with pytest.raises(api.GitHubError, match="the next page is one already read; stopped"):
        call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments")))
    assert github.state.requests("GET", COMMENTS) == 2


def test_server_errors_and_rate_limits_are_retried(github: FakeGitHub) -> None:
    github.state.faults += [
        Fault("GET", COMMENTS, 502),
        Fault("GET", COMMENTS, 403, {"Retry-After": "0"}),
        Fault("GET", COMMENTS, 503),
    ]
    assert call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments"))) == []
    assert github.state.requests("GET", COMMENTS) == 4


def test_retries_are_bounded(github: FakeGitHub) -> None:
    github.state.faults += [Fault("GET", COMMENTS, 502) for _ in range(5)]
    with pytest.raises(api.GitHubError, match=r"GitHub answered 502 to GET .*/issues/7/comments"):
        call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments")))
    assert github.state.requests("GET", COMMENTS) == 4


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            401,
            "GitHub answered 401 to GET /repos/acme/inventory/issues/7/comments: fault "
            r"\(is GITHUB_TOKEN set to a valid token\?\)",
        ),
        (403, r"GitHub answered 403 .*: fault \(does the workflow's `permissions:` grant "),
        (404, r"GitHub answered 404 .*: fault \(is GITHUB_REPOSITORY right"),
        (422, r"GitHub answered 422 to GET /repos/acme/inventory/issues/7/comments: fault$"),
    ],
)
def test_client_errors_are_reported_once_and_not_retried(
    github: FakeGitHub, status: int, message: str
) -> None:
    github.state.faults.append(Fault("GET", COMMENTS, status))
    with pytest.raises(api.GitHubError, match=message):
        call(github, lambda gh: gh.pages(gh.path("issues", 7, "comments")))
    assert github.state.requests("GET", COMMENTS) == 1


def test_a_wrong_token_is_named(github: FakeGitHub) -> None:
    repo = api.Repo(github.url, REPOSITORY, "wrong")

    async def run() -> Any:
        async with api.connect(repo, FAST) as gh:
            return await gh.pages(gh.path("issues", 7, "comments"))

    with pytest.raises(api.GitHubError, match=r"401 .*: Bad credentials \(is GITHUB_TOKEN"):
        asyncio.run(run())


def test_an_unreachable_api_is_tried_a_bounded_number_of_times() -> None:
    attempts: list[int] = []

    async def run(repo: api.Repo) -> Any:
        async with api.connect(repo, FAST) as gh:
            gh.client.event_hooks["request"].append(_count(attempts))
            return await gh.pages(gh.path("issues", 7, "comments"))

    with socket.socket() as probe:  # bound, never listening: nothing else can take it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        repo = api.Repo(f"http://127.0.0.1:{port}", REPOSITORY, TOKEN)
        with pytest.raises(Unreachable, match="cannot reach GitHub: ConnectError"):
            asyncio.run(run(repo))
    assert len(attempts) == 4


def _count(seen: list[int]) -> Callable[[Any], Awaitable[None]]:
    async def hook(_: Any) -> None:
        seen.append(1)

    return hook


def test_a_create_is_not_repeated_when_its_answer_was_lost(github: FakeGitHub) -> None:
    # GitHub made the comment, but the answer was a 502: the client looks before posting again.
    github.state.faults.append(Fault("POST", COMMENTS, 502, after=True))
    posted = call(
        github,
        lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
    )
    assert posted.action == "updated"
    assert len(github.state.comments[7]) == 1
    assert github.state.requests("POST", COMMENTS) == 1


def test_a_create_that_did_not_happen_is_sent_once_more(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("POST", COMMENTS, 503))
    posted = call(
        github,
        lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
    )
    assert posted.action == "created"
    assert len(github.state.comments[7]) == 1
    assert github.state.requests("POST", COMMENTS) == 2


def test_a_refused_create_is_not_retried(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("POST", COMMENTS, 422))
    with pytest.raises(api.GitHubError, match="GitHub answered 422 to POST"):
        call(
            github,
            lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
        )
    assert github.state.requests("POST", COMMENTS) == 1
    assert github.state.comments == {}


def test_a_rate_limited_create_waits_and_is_sent_again(github: FakeGitHub) -> None:
    github.state.faults += [
        Fault("POST", COMMENTS, 403, {"Retry-After": "0"}),
        Fault("POST", COMMENTS, 429),
    ]
    posted = call(
        github,
        lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
    )
    assert posted.action == "created"
    assert len(github.state.comments[7]) == 1
    assert github.state.requests("POST", COMMENTS) == 3
    assert github.state.requests("GET", COMMENTS) == 1  # refused outright: no need to look


@pytest.mark.parametrize("status", [301, 302, 304, 307])
def test_a_redirect_with_a_json_body_is_no_success(github: FakeGitHub, status: int) -> None:
    location = {"Location": "https://elsewhere.example/x"}
    github.state.faults.append(Fault("GET", COMMENTS, status, location, body=b"[]"))
    message = (
        f"GitHub answered {status} to GET /repos/acme/inventory/issues/7/comments "
        "(a redirect; reconcile does not follow them: check GITHUB_API_URL)"
    )
    with pytest.raises(api.GitHubError, match=f"^{re.escape(message)}$"):
        call(github, comments)
    assert github.state.requests("GET", COMMENTS) == 1


def test_a_redirect_to_an_update_is_no_success(github: FakeGitHub) -> None:
    github.state.add_comment(7, "<!-- reconcile-plan error -->")
    github.state.faults.append(Fault("PATCH", r".*/issues/comments/\d+", 302, body=b"{}"))
    with pytest.raises(api.GitHubError, match=r"^GitHub answered 302 to PATCH "):
        call(github, lambda gh: sticky.post(gh, 7, "x", sticky.DEFAULT_AUTHOR))


def test_path_segments_are_escaped(github: FakeGitHub) -> None:
    path = call(github, lambda gh: _path(gh, "issues", "1/../../x?y#z", "..", ".", 7))
    assert path == "/repos/acme/inventory/issues/1%2F..%2F..%2Fx%3Fy%23z/%2E%2E/%2E/7"


async def _path(gh: api.GitHub, *segments: str | int) -> str:
    return gh.path(*segments)


@pytest.mark.parametrize("bad", ["1001/../../../../x", None, True, -3, 1.5])
def test_a_comment_id_that_is_not_a_number_is_refused_before_any_write(
    github: FakeGitHub, bad: object
) -> None:
    comment = github.state.add_comment(7, "<!-- reconcile-plan error -->")
    comment["id"] = bad
    with pytest.raises(api.GitHubError, match=r"^GitHub sent a comment id that is not a positive"):
        call(github, lambda gh: sticky.post(gh, 7, "x", sticky.DEFAULT_AUTHOR))
    assert [method for method, _ in github.state.log] == ["GET"]


def test_only_trailing_slashes_leave_the_api_url_and_an_http_one_is_taken() -> None:
    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/inventory"}
    for given, taken in (
        ("https://GHE.EXAMPLE.BOX/", "https://GHE.EXAMPLE.BOX"),
        ("http://127.0.0.1:8080/api/v3//", "http://127.0.0.1:8080/api/v3"),
    ):
        assert api.Repo.from_env({**env, "GITHUB_API_URL": given}).api_url == taken


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GITHUB_REPOSITORY": "acme/inventory"},
            "set GITHUB_TOKEN (in a workflow: ${{ github.token }})",
        ),
        ({"GITHUB_TOKEN": "t"}, "GITHUB_REPOSITORY must be OWNER/NAME, not ''"),
        (
            {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/."},
            "GITHUB_REPOSITORY must be OWNER/NAME, not 'acme/.'",
        ),
    ],
)
def test_a_missing_or_unsafe_setting_is_named_exactly(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as refused:
        api.Repo.from_env(env)
    assert str(refused.value) == message


def test_without_an_event_file_the_pull_request_must_be_given() -> None:
    with pytest.raises(UsageError) as refused:
        api.pull_request_number({}, None)
    assert str(refused.value) == "give --pr N, or run in a workflow (GITHUB_EVENT_PATH is not set)"


def test_the_run_link_needs_the_server_the_repository_and_the_run() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://GHE.EXAMPLE.BOX/",
        "GITHUB_REPOSITORY": "acme/inventory",
        "GITHUB_RUN_ID": "42",
    }
    assert api.run_url(env) == "https://GHE.EXAMPLE.BOX/acme/inventory/actions/runs/42"
    for name in env:
        assert api.run_url({k: v for k, v in env.items() if k != name}) is None


def test_ids_and_timestamps_from_github_are_read_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.number(1, "a comment id") == 1
    with pytest.raises(api.GitHubError) as refused:
        api.number(0, "a comment id")
    assert str(refused.value) == "GitHub sent a comment id that is not a positive integer: 0"
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    # Without an offset it is UTC, whatever the machine's time zone.
    with monkeypatch.context() as patched:
        patched.setenv("TZ", "EST+5")
        time.tzset()
        read = [
            api.timestamp(text)
            for text in ("2026-01-01T12:00:00Z", "2026-01-01T14:00:00+02:00", "2026-01-01T12:00:00")
        ]
    time.tzset()
    assert [(moment, moment.tzinfo) for moment in read] == [(noon, UTC)] * 3
    with pytest.raises(api.GitHubError) as refused:
        api.timestamp("yesterday")
    assert str(refused.value) == "GitHub sent a timestamp that is not ISO 8601: 'yesterday'"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"not json", "GitHub answered GET {} with something not JSON"),
        (200, b"", "GitHub answered GET {} with something not JSON"),
        (
            400,
            json.dumps({"message": "m" * 400}).encode(),
            "GitHub answered 400 to GET {}: " + "m" * 300,
        ),
        (
            300,
            b"[]",
            "GitHub answered 300 to GET {} (a redirect; reconcile does not follow them: "
            "check GITHUB_API_URL)",
        ),
    ],
)
def test_an_answer_that_is_no_json_success_is_an_error_saying_so(
    github: FakeGitHub, status: int, body: bytes, message: str
) -> None:
    github.state.faults.append(Fault("GET", COMMENTS, status, body=body))
    with pytest.raises(api.GitHubError) as refused:
        call(github, lambda gh: gh.call("GET", gh.path("issues", 7, "comments")))
    assert str(refused.value) == message.format(COMMENTS)
    assert github.state.requests("GET", COMMENTS) == 1


def test_an_empty_204_is_a_success_without_a_value(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("GET", COMMENTS, 204, body=b""))
    assert call(github, lambda gh: gh.call("GET", gh.path("issues", 7, "comments"))) is None


def test_a_call_is_retried_by_default_and_sends_its_query(github: FakeGitHub) -> None:
    for index in range(3):
        github.state.add_comment(7, f"c{index}")
    github.state.faults.append(Fault("GET", COMMENTS, 502))
    page = call(
        github,
        lambda gh: gh.call("GET", gh.path("issues", 7, "comments"), params={"per_page": 2}),
    )
    assert [c["body"] for c in page] == ["c0", "c1"]
    assert github.state.requests("GET", COMMENTS) == 2


def test_a_listing_that_is_not_a_list_or_too_long_is_refused(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.state.faults.append(Fault("GET", COMMENTS, 200, body=b"{}"))
    with pytest.raises(api.GitHubError) as refused:
        call(github, comments)
    assert str(refused.value) == f"GitHub answered GET {COMMENTS} with something not a list"
    for index in range(250):
        github.state.add_comment(7, f"c{index}")
    monkeypatch.setattr(api, "MAX_PAGES", 2)
    with pytest.raises(api.GitHubError) as refused:
        call(github, comments)
    assert str(refused.value) == f"GET {COMMENTS}: more than 2 pages; stopped"
    assert github.state.requests("GET", COMMENTS) == 1 + 2


def test_a_create_sent_again_after_a_look_is_not_retried(github: FakeGitHub) -> None:
    # The first POST failed before GitHub made anything, and the look found nothing: the
    # second POST is sent once, as the first, since it too might have been carried out.
    github.state.faults += [Fault("POST", COMMENTS, 502), Fault("POST", COMMENTS, 502)]
    with pytest.raises(api.GitHubError, match=r"^GitHub answered 502 to POST "):
        call(
            github,
            lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
        )
    assert github.state.requests("POST", COMMENTS) == 2
    assert github.state.requests("GET", COMMENTS) == 2  # before the first POST, and after
    assert github.state.comments == {}
