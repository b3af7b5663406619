"""The posted texts' markers and size guard, and reading the files a workflow hands over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconcile.core.errors import UsageError
from reconcile.github import body, files
from tests import markdown_oracle
from tests.github.conftest import golden_plan

FINGERPRINT = "0123456789abcdef" * 4


def test_markers_are_read_back_exactly() -> None:
    assert body.read_marker(f"<!-- reconcile-plan fingerprint={FINGERPRINT} -->\nx") == (
        body.Marker("plan", FINGERPRINT)
    )
    assert body.read_marker("<!-- reconcile-plan error -->") == body.Marker("plan", None)
    assert body.read_marker(f"<!-- reconcile-drift fingerprint={FINGERPRINT} -->") == (
        body.Marker("drift", FINGERPRINT)
    )
    for other in (
        f"<!-- reconcile-plan fingerprint={FINGERPRINT.upper()} -->",
        f"<!-- reconcile-plan fingerprint={FINGERPRINT[:12]} -->",
        f"quoted: <!-- reconcile-plan fingerprint={FINGERPRINT} -->",
        "<!-- reconcile-plan -->",
    ):
        assert body.read_marker(other) is None, other


def test_every_text_starts_with_its_marker() -> None:
    plan = golden_plan()
    marker = body.Marker("plan", plan["fingerprint"])
    assert body.read_marker(body.plan_comment(plan)) == marker
    assert body.read_marker(body.error_comment("boom")) == body.Marker("plan", None)
    assert body.read_marker(body.drift_issue(plan)) == body.Marker("drift", plan["fingerprint"])


def test_fit_keeps_a_body_at_the_limit_and_cuts_one_over_it() -> None:
    exact = "x" * body.LIMIT
    assert body.fit(exact) is exact
    cut = body.fit(exact + "y")
    assert len(cut) == body.LIMIT
    assert cut == "x" * (body.LIMIT - len(body.CUT)) + body.CUT


@pytest.mark.parametrize(
    "error",
    [
        "before\n```\n# heading\n```",
        "````````\n<!-- hidden\n````\n-->\n</details>\n<script>x</script>",
        "  ```  \n~~~\n    ```\n``` trailing",
    ],
)
def test_error_text_cannot_close_the_code_block(error: str) -> None:
    seen = markdown_oracle.read(body.error_comment(error))
    assert seen.blocks == [error.strip() + "\n"]  # shown whole and as it is, in one block
    assert seen.tags == ["p", "strong", "pre", "code"]


def test_error_text_keeps_its_lines_and_spells_out_other_controls() -> None:
    seen = markdown_oracle.read(body.error_comment("one\r\ntwo\x1b[31m\u2028three\u202e"))
    assert seen.blocks == ["one\\r\ntwo\\u001b[31m\\u2028three\\u202e\n"]


def test_a_plan_file_with_a_bad_fingerprint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**golden_plan(), "fingerprint": "not-hex"}))
    with pytest.raises(UsageError, match="the plan's fingerprint is not 64 hex digits"):
        files.read_plan(path)
    path.write_text("[]")
    with pytest.raises(UsageError, match=r"not a plan saved by `reconcile plan --out`$"):
        files.read_plan(path)
    path.write_text(json.dumps(golden_plan()))
    assert files.read_plan(path) == golden_plan()


def test_an_error_file_that_is_not_utf8_is_still_posted(tmp_path: Path) -> None:
    path = tmp_path / "plan.err"
    path.write_bytes(b"caf\xe9 failed\n")
    assert files.read_error(path) == "caf\ufffd failed\n"
    with pytest.raises(UsageError, match="cannot read the error file"):
        files.read_error(tmp_path / "missing.err")


def test_markers_name_their_inventory_and_staleness() -> None:
    for marker in (
        body.Marker("plan", FINGERPRINT, "prod"),
        body.Marker("plan", FINGERPRINT, "staging-eu", stale=True),
        body.Marker("plan", None, "prod"),
        body.Marker("drift", FINGERPRINT, "prod"),
    ):
        assert body.read_marker(marker.text() + "rest") == marker
    assert body.Marker("plan", FINGERPRINT, "prod", stale=True).text() == (
        f"<!-- reconcile-plan env=prod stale fingerprint={FINGERPRINT} -->\n"
    )
    assert body.read_marker(f"<!-- reconcile-plan env=Prod fingerprint={FINGERPRINT} -->") is None


def test_a_stale_plan_is_marked_once_and_an_error_is_not_marked() -> None:
    plan = golden_plan()
    once = body.stale_comment(body.plan_comment(plan), "1" * 40)
    assert once is not None
    twice = body.stale_comment(once, "2" * 40)
    assert twice == once.replace("1" * 40, "2" * 40)
    assert body.stale_comment(body.error_comment("boom"), "1" * 40) is None


RUN = "https://github.example/o/r/actions/runs/1"
RUN_LINE = f"\n[Workflow run]({RUN}) (its artifacts hold the JSON plan)\n"


def test_the_drift_issue_says_what_it_is_and_links_the_run() -> None:
    plan = golden_plan()
    issue = body.drift_issue(plan, run_url=RUN)
    assert issue.startswith(
        f"<!-- reconcile-drift fingerprint={plan['fingerprint']} -->\n"
        "The server no longer matches the inventory on the default branch: this is what "
        "`reconcile apply` would change. Either change the inventory in a pull request, or "
        "apply this plan by its fingerprint. This issue is updated by every scheduled check "
        "and closed when the server matches again.\n\n"
    )
    assert issue.endswith(RUN_LINE)
    assert not body.drift_issue(plan).endswith(RUN_LINE)


def test_the_error_comment_is_the_error_in_a_block_and_the_run() -> None:
    head = (
        "<!-- reconcile-plan error -->\n**reconcile could not plan this change.** There is "
        "no plan to review until the error below is fixed.\n\n"
    )
    assert body.error_comment(" boom \n", run_url=RUN) == f"{head}```\nboom\n```\n{RUN_LINE}"
    assert body.error_comment("  ") == f"{head}```\n(no error text)\n```\n"


def test_a_long_error_is_cut_to_its_room_and_keeps_the_run_line() -> None:
    long = body.error_comment("x" * body.LIMIT, run_url=RUN)
    assert long.endswith(f"\n[...]\n```\n{RUN_LINE}")
    assert body.CUT not in long
    kept = _xs(long)
    # Room left for the size notice: the error's cut never meets GitHub's limit.
    assert len(long) == body.LIMIT - len(body.CUT)
    # An error exactly as long as its room is kept whole; one more character is cut.
    whole = body.error_comment("x" * kept, run_url=RUN)
    assert "[...]" not in whole
    assert _xs(whole) == kept
    assert _xs(body.error_comment("x" * (kept + 1), run_url=RUN)) == kept


def _xs(comment: str) -> int:
    """How many characters of an error of x's the comment shows."""
    return comment.count("x") - body.error_comment("-", run_url=RUN).count("x")
