"""Plan renderings are golden-tested: text, markdown for pull requests, and JSON.

Set RECONCILE_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change,
then review their diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from reconcile.model import Inventory, Remote, State, Webhook
from reconcile.plan import Plan, compute_plan, to_json
from reconcile.render import plan_markdown, plan_text
from tests.test_plan import INVENTORY, mirror

GOLDEN = Path(__file__).with_name("golden")


def rich_plan() -> Plan:
    """One of everything: create, update, rename, delete, protected, unmanaged."""
    autos = {a.name: a for a in INVENTORY.automations}
    staging = autos["route-to-staging"]
    payload = {**staging.action.params["payload"], "environment": "staging-eu", "region": "eu"}
    changed = replace(
        staging,
        event=replace(staging.event, params={**staging.event.params, "at_least": 0.92}),
        action=replace(staging.action, params={**staging.action.params, "payload": payload}),
    )
    renamed = replace(
        autos["val-loss-jumped"], name="val-loss-rose", previously=("val-loss-jumped",)
    )
    added = replace(autos["throughput-anomaly"], name="throughput-anomaly-eu", enabled=True)
    kept = [
        a
        for name, a in autos.items()
        if name not in {"route-to-staging", "val-loss-jumped", "teams-card-on-registry-link"}
        and name != "deploy-fraud-detector-to-production"
    ]
    inventory = replace(INVENTORY, automations=(*kept, changed, renamed, added))
    stranger = Remote(Webhook("ml-platform", "made-by-hand", "https://example.com/x"), id="W-x")
    state = State((*mirror(INVENTORY).resources, stranger))
    return compute_plan(inventory, state)


def check_golden(name: str, text: str, folder: Path = GOLDEN) -> None:
    """Compare with the golden file; with RECONCILE_UPDATE_GOLDEN set, rewrite it instead.

    A rewrite fails the test and an unchanged file skips it, both naming the file: a run
    that updates golden files checks nothing, and must never pass as if it had.
    """
    path = folder / name
    if os.environ.get("RECONCILE_UPDATE_GOLDEN"):
        if path.exists() and path.read_text("utf-8") == text:
            pytest.skip(f"RECONCILE_UPDATE_GOLDEN is set: {name} unchanged, nothing checked")
        path.write_text(text, "utf-8")
        pytest.fail(f"RECONCILE_UPDATE_GOLDEN is set: rewrote {name}; review its diff")
    assert text == path.read_text("utf-8")


def test_rich_plan_has_every_kind_of_entry() -> None:
    document = to_json(rich_plan())
    assert document["summary"] == {"create": 1, "update": 2, "delete": 1}
    assert [row["name"] for row in document["protected"]] == ["deploy-fraud-detector-to-production"]
    assert [row["name"] for row in document["unmanaged"]] == ["made-by-hand"]


def test_json_golden() -> None:
    check_golden("plan.json", json.dumps(to_json(rich_plan()), indent=2, sort_keys=True) + "\n")


def test_text_golden() -> None:
    check_golden("plan.txt", plan_text.render(to_json(rich_plan())))


def test_markdown_golden() -> None:
    check_golden("plan.md", plan_markdown.render(to_json(rich_plan())))


def test_text_colours_only_when_asked() -> None:
    document = to_json(rich_plan())
    assert "\x1b[" not in plan_text.render(document)
    coloured = plan_text.render(document, color=True)
    assert "\x1b[32m  + automation ml-platform/throughput-anomaly-eu\x1b[0m" in coloured


@pytest.mark.parametrize("limit", [2_000, 60_000])
def test_markdown_is_truncated_under_the_limit_with_a_notice(limit: int) -> None:
    document = to_json(compute_plan(_many(400), State()))
    text = plan_markdown.render(document, limit=limit)
    assert len(text) <= limit
    assert text.startswith("**Plan: 400 to create, 0 to update, 0 to delete.**\n")
    assert "was truncated" in text
    assert text.rstrip().endswith(f"Fingerprint: `{document['fingerprint']}`")


def test_markdown_is_whole_when_it_fits() -> None:
    text = plan_markdown.render(to_json(rich_plan()))
    assert "truncated" not in text
    assert text.count("<details>") == 4


def test_a_code_fence_in_a_payload_cannot_break_out_of_its_block() -> None:
    auto = INVENTORY.automations[1]
    payload = {"text": "```\n</details>"}
    fenced = replace(
        auto, action=replace(auto.action, params={**auto.action.params, "payload": payload})
    )
    text = plan_markdown.render(to_json(compute_plan(Inventory(automations=(fenced,)), State())))
    assert text.count("```") == 2


def _many(count: int) -> Inventory:
    base = INVENTORY.automations[1]
    return Inventory(automations=tuple(replace(base, name=f"a-{i:04d}") for i in range(count)))


def _conflicted(changes: bool) -> dict[str, object]:
    """A plan document whose only server object conflicts with a declared name."""
    hook = INVENTORY.webhooks[0]
    stranger = Remote(replace(hook, url="https://example.com/by-hand"), id="W-1")
    resources = [r for r in mirror(INVENTORY).resources if r.key != hook.key]
    if changes:
        resources = resources[1:]
    return to_json(compute_plan(INVENTORY, State((*resources, stranger))))


def test_the_headline_puts_conflicts_before_an_empty_plan() -> None:
    document = _conflicted(changes=False)
    assert len(document["conflicts"]) == 1
    headline = plan_text.render(document).splitlines()[0]
    assert headline == "1 conflict: nothing will be applied until it is resolved."
    assert plan_markdown.render(document).startswith(f"**{headline}**\n")


def test_the_headline_names_conflicts_then_the_changes() -> None:
    document = _conflicted(changes=True)
    assert plan_text.render(document).splitlines()[0] == (
        "1 conflict: nothing will be applied until it is resolved. "
        "Plan: 1 to create, 0 to update, 0 to delete."
    )


def test_check_golden_compares_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECONCILE_UPDATE_GOLDEN", raising=False)
    (tmp_path / "x.txt").write_text("old\n", "utf-8")
    check_golden("x.txt", "old\n", tmp_path)
    with pytest.raises(AssertionError):
        check_golden("x.txt", "new\n", tmp_path)
    assert (tmp_path / "x.txt").read_text("utf-8") == "old\n"


def test_updating_golden_files_rewrites_then_fails_visibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_UPDATE_GOLDEN", "1")
    (tmp_path / "x.txt").write_text("old\n", "utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"rewrote x\.txt; review its diff"):
        check_golden("x.txt", "new\n", tmp_path)
    assert (tmp_path / "x.txt").read_text("utf-8") == "new\n"
    with pytest.raises(pytest.skip.Exception, match=r"x\.txt unchanged, nothing checked"):
        check_golden("x.txt", "new\n", tmp_path)
