"""The GitHub client's bounds: a total deadline per request, the answer's body included,
and a size limit on answers, against the fake GitHub dripping, huge or compressed.
"""

from __future__ import annotations

import gzip
import re

import pytest

from reconcile.client.transport import RetryPolicy, Unreachable
from reconcile.github import sticky
from reconcile.github.bounded import AnswerRefused
from tests.github.fake import FakeGitHub, Fault
from tests.github.test_api import COMMENTS, call, comments

# A dripped answer: 200 bytes, one every 50 ms, 10 s in all; the deadline is 0.5 s.
DRIP = b"[" + b" " * 198 + b"]"


def test_a_dripping_answer_ends_by_the_deadline_and_is_tried_again(github: FakeGitHub) -> None:
    slow = Fault("GET", COMMENTS, 200, body=DRIP, drip=0.05)
    github.state.faults.append(slow)
    assert call(github, comments, deadline=0.5) == []
    assert github.state.requests("GET", COMMENTS) == 2  # the first gave up, the second answered
    assert slow.done.wait(30)
    assert slow.sent[0] < len(DRIP)


def test_an_answer_dripping_on_every_attempt_ends_with_the_deadline_error(
    github: FakeGitHub,
) -> None:
    github.state.faults += [Fault("GET", COMMENTS, 200, body=DRIP, drip=0.05) for _ in range(2)]
    message = (
        "cannot reach GitHub: ReadTimeout: GET /repos/acme/inventory/issues/7/comments: "
        "no complete answer within 0.5 s"
    )
    with pytest.raises(Unreachable, match=f"^{re.escape(message)}$"):
        call(github, comments, policy=RetryPolicy(attempts=2, scale=0.0), deadline=0.5)
    assert github.state.requests("GET", COMMENTS) == 2


def test_a_dripping_answer_to_a_create_is_looked_for_before_posting_again(
    github: FakeGitHub,
) -> None:
    github.state.faults.append(Fault("POST", COMMENTS, 201, body=DRIP, drip=0.05, after=True))
    posted = call(
        github,
        lambda gh: sticky.post(gh, 7, "<!-- reconcile-plan error -->", sticky.DEFAULT_AUTHOR),
        deadline=0.5,
    )
    assert posted.action == "updated"
    assert len(github.state.comments[7]) == 1
    assert github.state.requests("POST", COMMENTS) == 1


@pytest.mark.parametrize("declare", [True, False])
def test_an_answer_over_the_size_limit_is_refused_without_reading_it_whole(
    github: FakeGitHub, declare: bool
) -> None:
    huge = Fault("GET", COMMENTS, 200, size=64 * 1024 * 1024, declare=declare)
    github.state.faults.append(huge)
    message = (
        "GitHub's answer to GET /repos/acme/inventory/issues/7/comments is larger than "
        "1,048,576 bytes; stopped reading it"
    )
    with pytest.raises(AnswerRefused, match=f"^{re.escape(message)}$"):
        call(github, comments, limit=1024 * 1024)
    assert github.state.requests("GET", COMMENTS) == 1  # not retried: it would be as large
    assert huge.done.wait(60)
    assert huge.sent[0] < 32 * 1024 * 1024  # the rest was never read


def test_an_answer_at_the_size_limit_is_read(github: FakeGitHub) -> None:
    github.state.faults.append(Fault("GET", COMMENTS, 200, size=1024 * 1024, declare=False))
    assert call(github, comments, limit=1024 * 1024) == []


def test_a_compressed_answer_is_refused(github: FakeGitHub) -> None:
    packed = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    github.state.faults.append(
        Fault("GET", COMMENTS, 200, {"Content-Encoding": "gzip"}, body=packed)
    )
    with pytest.raises(AnswerRefused, match=r"answered GET \S+ compressed \(gzip\); refused$"):
        call(github, comments)


@pytest.mark.parametrize("encoding", ["", "identity", " Identity "])
def test_an_answer_that_names_no_compression_is_read(github: FakeGitHub, encoding: str) -> None:
    github.state.faults.append(
        Fault("GET", COMMENTS, 200, {"Content-Encoding": encoding}, body=b'[{"id": 1}]')
    )
    assert call(github, comments) == [{"id": 1}]
