"""`reconcile plan` shows edits made on the server since the last apply apart from what
the inventory proposes, in every format, as a user types the command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reconcile.apply.target import Target, connect
from reconcile.client import operations as ops
from reconcile.client.reader import Reader
from reconcile.core import ownership
from reconcile.github.body import plan_comment
from tests.apply import test_session
from tests.apply.test_session import edit, run

workdir = test_session.workdir
RUN_FAILED = "automations/examples/run-failed.yaml"


async def _ui_edit(db: Path, names: dict[str, dict[str, object]]) -> None:
    """Change automations through GraphQL, as the W&B UI does: the description (and its
    ownership marker) is left as it is."""
    async with connect(Target(None, db=db)) as transport:
        state, lookup = await Reader(transport).read(["ml-platform"], [])
        for remote in state.resources:
            if remote.key.name in names:
                fields = {"id": lookup.ids[remote.key], **names[remote.key.name]}
                await transport.execute(ops.UPDATE_TRIGGER, {"input": fields})


def _edit_both(workdir: Path) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    off = {"enabled": False}
    asyncio.run(
        _ui_edit(
            workdir / ".reconcile/server.db",
            {"val-loss-jumped": off, "alert-on-failed-training-run": off},
        )
    )
    edit(workdir / RUN_FAILED, "description: Page the team", "description: Paged. Page the team")
    edit(
        workdir / "automations/examples/staging-vs-production.yaml",
        "at_least: 0.90",
        "at_least: 0.92",
    )


DESCRIPTION = "Page the team's Slack channel when a training run fails or crashes."


def test_text_shows_the_ui_edit_apart_from_the_inventory_edit(workdir: Path) -> None:
    _edit_both(workdir)
    result = run("plan")
    assert result.exit_code == 0
    body, _, _tail = result.output.partition("\nFingerprint: ")
    assert body == (
        "Target: the embedded server (.reconcile/server.db); entities: ml-platform\n"
        "Plan: 0 to create, 3 to update, 0 to delete.\n"
        "\n"
        "Changed outside reconcile since the last apply (apply puts back what the inventory "
        "declares):\n"
        "  ~ automation ml-platform/val-loss-jumped\n"
        "      ~ enabled: false -> true\n"
        "    automation ml-platform/alert-on-failed-training-run: the inventory changes it "
        "too (below)\n"
        "\n"
        "Proposed by the inventory:\n"
        "  ~ automation ml-platform/alert-on-failed-training-run (also changed outside "
        "reconcile since the last apply)\n"
        f'      ~ description: "{DESCRIPTION}" -> "Paged. {DESCRIPTION}"\n'
        "      ~ enabled: false -> true\n"
        "  ~ automation ml-platform/route-to-staging\n"
        "      ~ when.run_metric.at_least: 0.9 -> 0.92\n"
    )


def test_json_and_markdown_show_them_apart_too(workdir: Path) -> None:
    _edit_both(workdir)
    document = json.loads(run("plan", "--format", "json").output)
    assert document["changed_outside"] == [
        {
            "kind": "automation",
            "entity": "ml-platform",
            "name": "alert-on-failed-training-run",
            "inventory_changed": True,
        },
        {
            "kind": "automation",
            "entity": "ml-platform",
            "name": "val-loss-jumped",
            "inventory_changed": False,
        },
    ]
    markdown = run("plan", "--format", "markdown").output
    section = (
        "**Changed outside reconcile since the last apply** (apply puts back what the "
        "inventory declares):\n\n"
        "<details><summary>~ update automation <code>ml-platform/val-loss-jumped</code>"
        "</summary>\n\n```diff\n- enabled: false\n+ enabled: true\n```\n\n</details>\n\n"
        "The inventory changes these too (below): "
        "`automation ml-platform/alert-on-failed-training-run`\n\n"
        "**Proposed by the inventory:**\n\n"
        "<details><summary>~ update automation "
        "<code>ml-platform/alert-on-failed-training-run</code> (also changed outside "
        "reconcile since the last apply)</summary>\n\n"
    )
    assert markdown.count(section) == 1
    assert markdown.index(section) < markdown.index("ml-platform/route-to-staging")
    comment = plan_comment({k: v for k, v in document.items() if k != "target"})
    assert comment.count(section) == 1


def test_an_object_applied_before_digests_were_recorded_plans_as_before(
    workdir: Path,
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    db = workdir / ".reconcile/server.db"
    old_marker = f"{DESCRIPTION}\n\n{ownership.DESCRIPTION_MARKER}"
    asyncio.run(
        _ui_edit(
            db, {"alert-on-failed-training-run": {"description": old_marker, "enabled": False}}
        )
    )
    document = json.loads(run("plan", "--format", "json").output)
    assert "changed_outside" not in document
    assert [c["name"] for c in document["changes"]] == ["alert-on-failed-training-run"]
    text = run("plan").output
    assert "Changed outside" not in text
    assert "Proposed by the inventory" not in text
    assert "  ~ automation ml-platform/alert-on-failed-training-run\n" in text
    # Apply records the digest again: the next edit outside shows apart.
    assert run("apply", "--fingerprint", document["fingerprint"]).exit_code == 0
    asyncio.run(_ui_edit(db, {"alert-on-failed-training-run": {"enabled": False}}))
    again = json.loads(run("plan", "--format", "json").output)
    assert [row["inventory_changed"] for row in again["changed_outside"]] == [False]
