"""What a plan shows: creates as written (no filled-in defaults), payloads as nested diffs.

Through the CLI against the embedded server, as a reviewer reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconcile.cli import cli
from reconcile.render.nested import field_lines
from tests.conftest import WriteFiles

INVENTORY = """
entity: ml
secrets:
  - name: TOKEN
webhooks:
  - name: slack
    url: https://example.com/slack
    access_token: TOKEN
automations:
  - name: acc
    scope: {project: p}
    when:
      run_metric: {metric: acc, above: 0.9}
    then:
      webhook:
        to: slack
        payload:
          text: "${run_name} passed"
          blocks:
            - type: section
              fields:
                - {type: mrkdwn, text: "*Run*"}
                - {type: mrkdwn, text: "*Value*"}
"""


@pytest.fixture
def workdir(write_files: WriteFiles, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RECONCILE_SERVER", "WANDB_BASE_URL", "WANDB_API_KEY", "RECONCILE_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOKEN", "token-value")
    monkeypatch.setenv("NO_COLOR", "1")
    return write_files({"a.yaml": INVENTORY})


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_creates_show_what_was_written_and_no_defaults(workdir: Path) -> None:
    result = run("plan")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[lines.index("  + secret ml/TOKEN") :][:10] == [
        "  + secret ml/TOKEN",
        "  + webhook ml/slack",
        '      url: "https://example.com/slack"',
        '      access_token: "TOKEN"',
        "  + automation ml/acc",
        '      scope.project: "p"',
        '      when.run_metric.metric: "acc"',
        "      when.run_metric.above: 0.9",
        '      then.webhook.to: "slack"',
        '      then.webhook.payload.text: "${run_name} passed"',
    ]


def test_a_changed_payload_is_a_nested_diff_and_a_rotation_counts_from_0(
    workdir: Path,
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    path = workdir / "a.yaml"
    text = path.read_text("utf-8").replace("*Value*", "*Accuracy*")
    text = text.replace("  - name: TOKEN\n", "  - name: TOKEN\n    rotation: 1\n")
    path.write_text(text.replace("passed", "passed 0.9"), "utf-8")
    result = run("plan")
    lines = result.stdout.splitlines()
    start = lines.index("Plan: 0 to create, 3 to update, 0 to delete.") + 2
    assert lines[start : lines.index("", start)] == [
        "  ~ secret ml/TOKEN",
        "      ~ rotation: 0 -> 1",
        "  ~ webhook ml/slack",
        "      ~ rotations.TOKEN: 0 -> 1",
        "  ~ automation ml/acc",
        "      ~ then.webhook.payload:",
        '          ~ text: "${run_name} passed" -> "${run_name} passed 0.9"',
        "            blocks:",
        "                [0]:",
        "                    fields:",
        "                        [1]:",
        '                          ~ text: "*Value*" -> "*Accuracy*"',
    ]


def test_an_inserted_block_is_one_addition_not_every_later_block_changed() -> None:
    section = {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Version*"}]}
    before = {"blocks": [{"type": "header"}, section]}
    after = {"blocks": [{"type": "header"}, {"type": "divider"}, section]}
    assert field_lines("then.webhook.payload", before, after) == [
        "~ then.webhook.payload:",
        "      blocks:",
        "        + [1]:",
        '            + type: "divider"',
    ]


def test_a_payload_added_or_removed_shows_its_content() -> None:
    assert field_lines("p", None, {"a": [1]}) == ["+ p:", "    + a:", "        + [0]: 1"]
    assert field_lines("p", {"a": 1}, None) == ["- p:", "    - a: 1"]
    assert field_lines("p", "x", {"a": 1}) == ['~ p: "x" -> {"a": 1}']
