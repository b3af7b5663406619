"""What an automation needs on the server is checked when it is planned, with the
command that fixes it: a plan that passes does not fail halfway on a missing reference."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconcile.apply.target import embedded_key
from reconcile.cli import cli
from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database
from tests.apply import test_session
from tests.server.live import running

workdir = test_session.workdir
PAGE = """\
entity: ml-platform
automations:
  - name: page-on-failure
    scope:
      team: ml-platform
    when:
      run_state:
        states: [failed]
    then:
      slack:
        channel: "#ml-alerts"
        title: A run failed
        message: Check its logs.
"""


@pytest.fixture
def served(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """`reconcile serve` on loopback with the team and no Slack channel; an inventory of
    one Slack automation."""
    shutil.rmtree(workdir / "automations")
    (workdir / "automations").mkdir()
    (workdir / "automations/page.yaml").write_text(PAGE, "utf-8")
    db_path = workdir / "served.db"
    monkeypatch.setenv("WANDB_API_KEY", embedded_key(db_path))
    db = Database(db_path)
    try:
        admin.ensure_team(db, "ml-platform")
        admin.set_role(db, "ml-platform", admin.DEFAULT_ADMIN, "admin")
    finally:
        db.close()
    with running(db_path) as live:
        yield live.url, db_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_a_slack_channel_not_connected_fails_the_plan_with_the_fix(
    served: tuple[str, Path],
) -> None:
    url, _db_path = served
    planned = invoke("plan", "--server", url)
    assert planned.exit_code == 1
    assert planned.output.partition("\nFingerprint: ")[0] == (
        f"Target: {url}; entities: ml-platform\n"
        "1 conflict: nothing will be applied until it is resolved. Plan: 1 to create, "
        "0 to update, 0 to delete.\n"
        "\n"
        "  + automation ml-platform/page-on-failure\n"
        '      scope.team: "ml-platform"\n'
        '      when.run_state.states.0: "failed"\n'
        '      then.slack.channel: "ml-alerts"\n'
        '      then.slack.title: "A run failed"\n'
        '      then.slack.message: "Check its logs."\n'
        "\n"
        "Conflicts (nothing will be applied until they are resolved):\n"
        "    automation ml-platform/page-on-failure: its Slack channel ml-alerts is not "
        f"connected to team ml-platform on {url}: connect it in W&B (the team's settings, "
        "Slack), or, on a server run by `reconcile serve`: "
        f"`reconcile server --server {url} create-slack-integration ml-platform ml-alerts`; "
        "then plan again\n"
    )
    refused = invoke("apply", "--server", url, "--auto-approve")
    assert (refused.exit_code, refused.output.splitlines()[-1]) == (
        3,
        "refused: the plan has conflicts (automation ml-platform/page-on-failure); nothing "
        "was applied",
    )
    # The command the conflict names, as printed, fixes it on the running server.
    fixed = invoke(
        "server", "--server", url, "create-slack-integration", "ml-platform", "ml-alerts"
    )
    assert fixed.exit_code == 0, fixed.output
    assert fixed.output.endswith(f" slack ml-platform #ml-alerts on the server {url}\n")
    assert invoke("plan", "--server", url).exit_code == 0
    applied = invoke("apply", "--server", url, "--auto-approve")
    assert (applied.exit_code, applied.output.splitlines()[-1]) == (
        0,
        "1 applied, 0 failed, 0 not attempted.",
    )
