"""Plan renderings are golden-tested: text, markdown for pull requests, and JSON.

Set RECONCILE_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change,
then review their diff.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.core.model import Inventory, Remote, State, Webhook
from reconcile.plan.compute import Plan, compute_plan, to_json
from reconcile.render import plan_markdown, plan_text
from tests import hostile, markdown_oracle
from tests.plan.test_compute import INVENTORY, mirror

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


@pytest.mark.parametrize("value", ["```\n</details>", "````", "x\n```", "~~~\n<!--"])
def test_a_code_fence_in_a_payload_cannot_break_out_of_its_block(value: str) -> None:
    auto = INVENTORY.automations[1]
    payload = {"text": value, "after": 1}
    fenced = replace(
        auto, action=replace(auto.action, params={**auto.action.params, "payload": payload})
    )
    text = plan_markdown.render(to_json(compute_plan(Inventory(automations=(fenced,)), State())))
    [block] = markdown_oracle.read(text).blocks
    assert f"then.webhook.payload.text: {json.dumps(value)}\n" in block
    assert block.endswith("then.webhook.payload.after: 1\n")


def _titles(document: dict[str, Any], prefix: str) -> list[str]:
    """Each change's title as a reviewer must see it, names spelled out by `hostile.shown`."""
    titles = []
    for change in document["changes"]:
        sign, action = plan_text.SIGNS[change["action"]], change["action"]
        name = f"{change['entity']}/{hostile.shown(change['name'])}"
        title = prefix.format(sign=sign, action=action) + f"{change['kind']} {name}"
        if change["renamed_from"]:
            title += f" (renamed from {hostile.shown(change['renamed_from'])})"
        titles.append(title)
    return titles


def test_every_change_is_visible_on_github_whatever_its_name() -> None:
    document = hostile.hostile_plan()
    markdown = plan_markdown.render(document)
    seen = markdown_oracle.read(markdown)
    # One <details> per change, its summary the change itself, in the plan's order.
    assert seen.summaries == _titles(document, "{sign} {action} ")
    assert len(seen.summaries) == 28
    assert seen.tags.count("details") == 28
    assert set(seen.tags) == {"p", "strong", "details", "summary", "code", "pre"}
    # No name is loose text, where GitHub would make a mention or a link of it.
    assert "@someone" not in seen.loose
    assert "ml-platform" not in seen.loose
    # Each block shows exactly what the terminal plan shows under the change, as a diff.
    terminal = _details(plan_text.render(document))
    assert [block.splitlines() for block in seen.blocks] == [
        _as_diff(change["action"], lines)
        for change, lines in zip(document["changes"], terminal, strict=True)
    ]
    assert seen.languages == ["diff"] * 28
    assert seen.paragraphs[1:] == [
        "Conflicts: webhook ml-platform/conflict <!-- hook",
        "Protected from deletion: automation ml-platform/protected -->",
        "Kept, still in use: webhook ml-platform/gone <hook> "
        "(still used by automation ml-platform/keeps `it`\\n--> (not managed by reconcile))",
        'Unmanaged, left alone: automation ml-platform/"keeps `it`\\n-->", '
        'automation ml-platform/"unmanaged\\nline", automation ml-platform/unmanaged <!--',
        f"Fingerprint: {document['fingerprint']}",
    ]


def _details(text: str) -> list[list[str]]:
    """The lines under each change of a terminal plan, unindented."""
    groups: list[list[str]] = []
    for line in text.split("\n"):
        if re.match(r"  [-+~] ", line):
            groups.append([])
        elif line.startswith("      ") and groups:
            groups[-1].append(line.removeprefix("      "))
    return groups


def _as_diff(action: str, lines: list[str]) -> list[str]:
    """A terminal plan's lines under a change as the comment's `diff` block shows them."""
    if action != "update":
        return [f"{'+' if action == 'create' else '-'} {line}" for line in lines]
    shown = []
    for line in lines:
        pad, sign, text = re.fullmatch(r"( *)([-+~ ]) (.*)", line).groups()  # type: ignore[union-attr]
        if sign != "~":
            shown.append(f"{sign}{pad} {text}")
        elif text.endswith(":"):
            shown.append(f" {pad} {text}")
        else:
            label, old, new = re.fullmatch(r"(.*?: )(.*) -> (.*)", text).groups()  # type: ignore[union-attr]
            shown += [f"-{pad} {label}{old}", f"+{pad} {label}{new}"]
    return shown


def test_a_payload_key_or_a_field_path_cannot_forge_a_line() -> None:
    document = hostile.hostile_plan()
    [update] = [c for c in document["changes"] if c["name"] == "notify-tracker-on-low-final-loss"]
    # No path the plan makes today holds a line break; the renderers must not rely on it.
    update["fields"].append({"path": "x\n~ forged", "before": 1, "after": "\x1b[2K"})
    expected = [
        "  then.webhook.payload:",
        '+     "k\\n+ create automation forged": "v <!-- \\u001b[2K"',
        '+     "`|*": "-->"',
        '-     kind: "converged"',
        '-     run: "${run_url}"',
        '-     loss: "${metric_value}"',
        '- "x\\n~ forged": 1',
        '+ "x\\n~ forged": "\\u001b[2K"',
    ]
    alone = {**document, "changes": [update]}
    assert markdown_oracle.read(plan_markdown.render(alone)).blocks == ["\n".join(expected) + "\n"]
    assert _as_diff("update", *_details(plan_text.render(alone))) == expected


def test_the_terminal_plan_has_one_line_per_change_whatever_its_name() -> None:
    document = hostile.hostile_plan()
    for color in (False, True):
        text = plan_text.render(document, color=color)
        plain = re.sub(r"\x1b\[(?:3[123]|0)m", "", text) if color else text
        assert "\x1b" not in plain  # the names' own escapes are spelled out
        heads = [line[2:] for line in plain.splitlines() if re.match(r"  [-+~] ", line)]
        assert heads == _titles(document, "{sign} ")
        # Every line break a terminal knows (\x85, \u2028 ...) is one the plan wrote.
        assert plain.splitlines() == plain.split("\n")[:-1]
        assert len(plain.splitlines()) == 259
    tail = plan_text.render(document).split("\n\n")[-5:-1]
    assert tail == [
        "Conflicts (nothing will be applied until they are resolved):\n"
        "    webhook ml-platform/conflict <!-- hook: exists on the server but is not managed "
        "by reconcile; adopt it with `reconcile import webhook 'ml-platform/conflict <!-- hook'` "
        "(every one: `reconcile export --adopt`), or choose another name",
        "Protected (kept although removed from the inventory):\n"
        "    automation ml-platform/protected -->",
        "Kept (removed from the inventory, but still in use):\n"
        "    webhook ml-platform/gone <hook>: "
        "still used by automation ml-platform/keeps `it`\\n--> (not managed by reconcile)",
        "Unmanaged (on the server, not managed by reconcile, left alone):\n"
        '    automation ml-platform/"keeps `it`\\n-->"\n'
        '    automation ml-platform/"unmanaged\\nline"\n'
        "    automation ml-platform/unmanaged <!--",
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4, unique=True))
def test_any_names_are_each_shown_once_and_read_back_exactly(names: list[str]) -> None:
    base = INVENTORY.automations[1]
    inventory = Inventory(automations=tuple(replace(base, name=name) for name in names))
    document = to_json(compute_plan(inventory, State()))
    summaries = markdown_oracle.read(plan_markdown.render(document)).summaries
    lines = plan_text.render(document).splitlines()
    heads = [line for line in lines if line.startswith("  + ")]
    for shown, prefix in ((summaries, "+ create automation "), (heads, "  + automation ")):
        assert all(title.startswith(f"{prefix}ml-platform/") for title in shown)
        read_back = [_read_name(title.removeprefix(f"{prefix}ml-platform/")) for title in shown]
        assert sorted(read_back) == sorted(names)


def _read_name(shown: str) -> str:
    """A name as shown: itself, or a quoted JSON string when it had to be spelled out."""
    if shown.startswith('"'):
        name: str = json.loads(shown)
        return name
    return shown


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


def test_a_list_left_alone_gets_its_room_and_says_how_many_more() -> None:
    document = to_json(compute_plan(Inventory(), State()))
    rows = [{"kind": "automation", "entity": "e", "name": "n" * 5_000}]
    rows += [{"kind": "automation", "entity": "e", "name": f"a{i}"} for i in range(3)]
    text = plan_markdown.render({**document, "unmanaged": rows, "protected": rows[1:]})
    assert markdown_oracle.read(text).paragraphs[1:3] == [
        "Protected from deletion: automation e/a0, automation e/a1, automation e/a2",
        "Unmanaged, left alone: 4 objects (the JSON plan lists them all)",
    ]
