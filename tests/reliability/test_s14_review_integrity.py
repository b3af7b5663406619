"""S14 review integrity: every change a plan holds is visible where it is reviewed.

Names come from the inventory (automations) and from the server (unmanaged objects,
made by anyone who can create an automation there). The plan comment is read back as
GitHub shows it (tests/markdown_oracle.py), and the reviewed fingerprint is applied:
what is applied is exactly what the reviewer saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.render import plan_text
from tests import markdown_oracle
from tests.github.fake import REPOSITORY, TOKEN, FakeGitHub, serving
from tests.reliability.conftest import ENTITY, Stack

# Declared in the inventory: the middle one would be hidden by its neighbours' comment.
DECLARED = (
    "aa <!-- opens a comment",
    "bb hidden between the two",
    "cc --> closes it",
    "dd </details></summary><script>alert(1)</script>",
    "ee `ticks` | pipes | *stars* _under_ [x](y)",
)
# Made on the server by hand: unmanaged, shown in the comment, never applied.
ON_SERVER = ("zz ` <!-- made by hand", "zz ` --> made by hand too")


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with serving() as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
        yield fake


def _declare(stack: Stack) -> None:
    lines = [f"entity: {ENTITY}", "automations:"]
    for name in DECLARED:
        lines += [
            f"  - name: {json.dumps(name)}",
            "    scope: {project: fraud-detection}",
            "    when: {run_state: {states: [failed]}}",
            "    then: {no_op: {}}",
        ]
    (stack.work / "automations" / "hostile.yaml").write_text("\n".join(lines) + "\n", "utf-8")


def test_what_is_applied_is_what_the_pull_request_comment_shows(
    stack: Stack, github: FakeGitHub
) -> None:
    stack.apply()
    _declare(stack)
    for name in ON_SERVER:
        stack.create_trigger(name)
    planned = stack.invoke("plan", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    document = json.loads(Path(stack.work / "plan.json").read_text("utf-8"))
    commented = stack.invoke("github", "comment", "--plan", "plan.json", "--pr", "7")
    assert commented.exit_code == 0, commented.output
    [comment] = github.state.comments[7]
    seen = markdown_oracle.read(comment["body"])

    # Every change, and only those, each in its own <details>, as the terminal shows it.
    assert seen.summaries == [f"+ create automation {ENTITY}/{name}" for name in DECLARED]
    assert seen.tags.count("details") == len(DECLARED)
    heads = [line[4:] for line in plan_text.render(document).splitlines() if line[:4] == "  + "]
    assert heads == [f"automation {ENTITY}/{name}" for name in DECLARED]
    unmanaged = ", ".join(f"automation {ENTITY}/{name}" for name in sorted(ON_SERVER))
    assert f"Unmanaged, left alone: {unmanaged}" in seen.paragraphs

    # The reviewed fingerprint applies exactly the automations the reviewer saw.
    before = {t["name"] for t in stack.triggers()}
    fingerprint = comment["body"].split("fingerprint=")[1].split(" ")[0]
    assert fingerprint == document["fingerprint"]
    applied = stack.invoke("apply", "--fingerprint", fingerprint)
    assert applied.exit_code == 0, applied.output
    assert {t["name"] for t in stack.triggers()} - before == set(DECLARED)


def test_the_drift_issue_shows_every_change_too(stack: Stack, github: FakeGitHub) -> None:
    stack.apply()
    _declare(stack)
    for name in ON_SERVER:
        stack.create_trigger(name)
    assert stack.invoke("plan", "--out", "plan.json").exit_code == 0
    drift = stack.invoke("github", "drift", "--plan", "plan.json")
    assert drift.exit_code == 0, drift.output
    [issue] = github.state.issues.values()
    seen = markdown_oracle.read(issue["body"])
    assert seen.summaries == [f"+ create automation {ENTITY}/{name}" for name in DECLARED]
    unmanaged = ", ".join(f"automation {ENTITY}/{name}" for name in sorted(ON_SERVER))
    assert f"Unmanaged, left alone: {unmanaged}" in seen.paragraphs
