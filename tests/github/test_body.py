"""The posted texts' markers and size guard, and reading the files a workflow hands over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconcile.core.errors import UsageError
from reconcile.github import body, files
from reconcile.render import plan_markdown
from tests import markdown_oracle
from tests.github.conftest import golden_plan, in_ascii_locale

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


def test_the_plan_comment_says_where_its_plan_was_made() -> None:
    target = {
        "env": "prod",
        "inventory": "envs/prod/",
        "server": "https://w.example",
        "entities": ["ml-platform", "research"],
    }
    plan = {**golden_plan(), "target": target}
    comment = body.plan_comment(
        plan, heading="**Why.**", run_url=RUN, planned=body.Planned("a" * 40, "b" * 40)
    )
    assert comment.split("\n")[:8] == [
        f"<!-- reconcile-plan env=prod fingerprint={plan['fingerprint']} -->",
        "**Why.**",
        "",
        "Inventory: `prod` (`envs/prod/`)  ",
        "Target: `https://w.example`; entities: `ml-platform`, `research`  ",
        f"Commit planned: `{'a' * 40}` (the pull request's head `{'b' * 40}`)  ",
        "",
        "**Plan: 1 to create, 2 to update, 1 to delete.**",
    ]
    assert comment.endswith(RUN_LINE)


@pytest.mark.parametrize(
    ("target", "planned", "lines"),
    [
        (
            {"env": "prod", "embedded": "prod.db"},
            body.Planned("a" * 40),
            [
                "Inventory: `prod` (``)  ",
                "Target: `the embedded server (prod.db)`; entities: none  ",
                f"Commit planned: `{'a' * 40}`  ",
                "",
            ],
        ),
        (
            {"server": "https://w.example", "entities": []},
            body.Planned(None, "b" * 40),
            [
                "Target: `https://w.example`; entities: none  ",
                "",
            ],
        ),
        ("not a target", body.Planned(), []),
        (None, body.Planned(), []),
    ],
)
def test_about_says_only_what_is_known(
    target: object, planned: body.Planned, lines: list[str]
) -> None:
    about = body.about({"target": target}, planned)
    assert about == "".join(f"{line}\n" for line in lines)


def test_the_inventory_of_a_plan_is_its_targets_env_when_it_is_a_name() -> None:
    assert body.env_of({"target": {"env": "prod"}}) == "prod"
    for target in ({"env": 7}, {"ENV": "prod"}, "prod", None):
        assert body.env_of({"target": target}) is None, target
    assert body.env_of({}) is None


def test_every_text_names_its_inventory() -> None:
    plan = {**golden_plan(), "target": {"env": "prod"}}
    fingerprint = plan["fingerprint"]
    assert body.plan_comment(plan).startswith(
        f"<!-- reconcile-plan env=prod fingerprint={fingerprint} -->\nInventory: `prod`"
    )
    assert body.error_comment("boom", env="prod").startswith(
        "<!-- reconcile-plan env=prod error -->\n**reconcile could not plan"
    )
    issue = body.drift_issue(plan, heading="**Why.**").split("\n")
    assert issue[0] == f"<!-- reconcile-drift env=prod fingerprint={fingerprint} -->"
    assert issue[1].startswith("The server no longer matches the inventory")
    assert issue[2:6] == ["", "**Why.**", "", "Inventory: `prod` (``)  "]
    assert body.drift_title("prod") == "reconcile: the server differs from the inventory (prod)"
    assert body.drift_title(None) == "reconcile: the server differs from the inventory"


def test_a_stale_plan_keeps_its_inventory_and_says_where_the_pull_request_is() -> None:
    marker = body.Marker("plan", FINGERPRINT, "prod")
    stale = body.Marker("plan", FINGERPRINT, "prod", stale=True).text()
    line = (
        "**This plan is stale:** the pull request changed after it was planned (it is now at "
        f"`{'1' * 40}`). A new plan is on its way; do not merge on this one."
    )
    assert body.stale_comment(marker.text() + "the plan", "1" * 40) == (
        f"{stale}{line}\n\nthe plan"
    )
    # A stale plan whose text was lost after its stale line keeps nothing of it.
    assert body.stale_comment(stale + "a line", "1" * 40) == f"{stale}{line}\n\n"


@pytest.mark.parametrize(
    ("env", "workflow", "how"),
    [
        (None, None, f"run `reconcile apply --fingerprint {FINGERPRINT}` with the apply key."),
        (
            "prod",
            "apply.yml",
            "run the workflow by hand with its fingerprint:\n\n```\ngh workflow run apply.yml "
            f"-f env=prod -f fingerprint={FINGERPRINT}\n```\n\nor, with the apply key, "
            f"`reconcile apply --env prod --fingerprint {FINGERPRINT}`.",
        ),
        (
            None,
            "apply.yml",
            "run the workflow by hand with its fingerprint:\n\n```\ngh workflow run apply.yml "
            f"-f fingerprint={FINGERPRINT}\n```\n\nor, with the apply key, "
            f"`reconcile apply --fingerprint {FINGERPRINT}`.",
        ),
    ],
)
def test_the_refused_heading_says_what_happened_and_the_command_that_applies(
    env: str | None, workflow: str | None, how: str
) -> None:
    assert body.refused_heading(FINGERPRINT, env, workflow) == (
        "**Not applied after the merge:** apply refused the reviewed plan, because the plan "
        "changed since the review (the workflow run says how). Nothing was applied. This is "
        f"the plan of the default branch now; review it, then {how}"
    )


def _one_change(size: int) -> dict[str, Any]:
    """The golden plan with its one create, whose description is `size` characters."""
    plan = golden_plan()
    [create] = [c for c in plan["changes"] if c["action"] == "create"]
    create["after"]["description"] = "d" * size
    summary = {"create": 1, "delete": 0, "update": 0}
    return {**plan, "changes": [create], "summary": summary, "target": {"env": "prod"}}


def test_a_plan_gets_all_the_room_its_head_and_run_line_leave_and_no_more() -> None:
    small = body.plan_comment(_one_change(1), run_url=RUN)
    head = small[: small.index("**Plan:")]
    room = body.LIMIT - len(head) - len(RUN_LINE)
    # The renderer keeps the change when it and its notice fit: the size that just fits.
    whole = len(plan_markdown.render(_one_change(1), limit=body.LIMIT * 2)) - 1
    size = room - whole - len(plan_markdown.TRUNCATED)
    kept = _one_change(size)
    comment = body.plan_comment(kept, run_url=RUN)
    assert comment == head + plan_markdown.render(kept, limit=body.LIMIT * 2) + RUN_LINE
    assert len(comment) == body.LIMIT - len(plan_markdown.TRUNCATED)
    # One more character: the change is left out, with the renderer's notice.
    left_out = _one_change(size + 1)
    comment = body.plan_comment(left_out, run_url=RUN)
    assert comment == head + plan_markdown.render(left_out, limit=room) + RUN_LINE
    assert "d" * 100 not in comment
    assert plan_markdown.TRUNCATED in comment


def test_a_plan_file_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    plan = _one_change(1)
    plan["changes"][0]["after"]["description"] = "Café ✓"
    path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    script = (
        "import sys, pathlib; from reconcile.github import files; "
        "print(ascii(files.read_plan(pathlib.Path(sys.argv[1]))['changes'][0]['after']"
        "['description']))"
    )
    assert in_ascii_locale(script, str(path)) == "'Caf\\xe9 \\u2713'\n"


def test_a_file_that_is_no_plan_is_named_with_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    plan = golden_plan()
    for text, message in (
        (
            json.dumps({k: v for k, v in plan.items() if k not in ("fingerprint", "has_changes")}),
            f"{path}: not a plan saved by `reconcile plan --out` (no fingerprint, has_changes)",
        ),
        ("", f"{path}: cannot read a JSON plan (Expecting value: line 1 column 1 (char 0))"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(UsageError) as refused:
            files.read_plan(path)
        assert str(refused.value) == message
