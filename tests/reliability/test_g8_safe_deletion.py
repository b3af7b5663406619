"""G8 safe deletion: only marked objects, never protected ones, thresholds, no prune on failure."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconcile.core.model import ResourceKey
from tests.reliability.conftest import ENTITY, Stack, generated, use_inventory
from tests.reliability.proxy import Request, Rule, writes


def _trigger_names(stack: Stack) -> list[str]:
    return sorted(t["name"] for t in stack.triggers())


def _without(text: str, *names: str) -> str:
    """The generated inventory text without the automation blocks named `names`."""
    blocks = text.split("  - name: ")
    kept = [b for b in blocks if not any(b.startswith(f"{name}\n") for name in names)]
    return "  - name: ".join(kept)


def test_only_objects_with_the_marker_are_deleted(stack: Stack) -> None:
    use_inventory(stack, generated(automations=3))
    stack.apply()
    stack.create_trigger("made-by-hand", "no marker here")
    stack.create_webhook("hand-hook", "https://hand.example.com/hook")
    use_inventory(stack, generated(automations=0))
    planned = stack.plan()
    deleted = sorted(c.key.name for c in planned.plan.changes if c.action == "delete")
    assert deleted == ["auto-000", "auto-001", "auto-002"]
    assert ResourceKey("automation", ENTITY, "made-by-hand") in planned.plan.unmanaged
    assert ResourceKey("webhook", ENTITY, "hand-hook") in planned.plan.unmanaged
    stack.proxy.clear()
    _, report = stack.apply()
    assert report.ok, report.failed
    assert stack.proxy.written() == {"deleteTrigger": 3}
    assert _trigger_names(stack) == ["made-by-hand"]
    assert "hand-hook" in [i.get("name") for i in stack.integrations()]


def test_a_protected_automation_survives_removal_of_its_yaml(stack: Stack) -> None:
    stack.apply()
    (stack.work / "automations/examples/deploy-on-production.yaml").unlink()
    planned = stack.plan()
    key = ResourceKey("automation", ENTITY, "deploy-fraud-detector-to-production")
    assert planned.plan.protected == (key,)
    assert planned.plan.changes == ()
    stack.proxy.clear()
    result = stack.invoke("apply", "--auto-approve", "--prune")
    assert result.exit_code == 0, result.output
    assert stack.proxy.mutations(lock=False) == []
    assert key.name in _trigger_names(stack)


def test_deleting_more_than_30_percent_needs_force(stack: Stack) -> None:
    text = generated(automations=10)
    use_inventory(stack, text)
    stack.apply()  # 12 managed objects: a secret, a webhook, 10 automations
    use_inventory(stack, _without(text, "auto-000", "auto-001", "auto-002", "auto-003"))
    stack.proxy.clear()
    refused = stack.invoke("apply", "--auto-approve", "--prune")
    assert refused.exit_code == 3, refused.output
    assert "--force" in refused.output
    assert stack.proxy.mutations(lock=False) == []
    assert len(_trigger_names(stack)) == 10
    forced = stack.invoke("apply", "--auto-approve", "--prune", "--force")
    assert forced.exit_code == 0, forced.output
    assert stack.proxy.written() == {"deleteTrigger": 4}


def _described(text: str, *names: str) -> str:
    """The generated inventory text with a description added to the automations `names`."""
    for name in names:
        text = text.replace(f"  - name: {name}\n", f"  - name: {name}\n    description: edited\n")
    return text


def test_updating_more_than_30_percent_needs_force(stack: Stack) -> None:
    """Updates count toward the threshold as deletes do: 4 of 12 updated, nothing deleted."""
    text = generated(automations=10)
    use_inventory(stack, text)
    stack.apply()
    edited = _described(text, "auto-000", "auto-001", "auto-002", "auto-003")
    use_inventory(stack, edited)
    stack.proxy.clear()
    refused = stack.invoke("apply", "--auto-approve")
    assert refused.exit_code == 3, refused.output
    assert "refused: the plan updates or deletes 4 of 12 managed objects (more than 30 %)" in (
        refused.output
    )
    assert stack.proxy.mutations(lock=False) == []
    use_inventory(stack, _described(text, "auto-000", "auto-001", "auto-002"))  # 3 of 12
    allowed = stack.invoke("apply", "--auto-approve")
    assert allowed.exit_code == 0, allowed.output
    assert stack.proxy.written() == {"updateFilterTrigger": 3}


def test_unreviewed_deletes_need_prune(stack: Stack) -> None:
    text = generated(automations=3)
    use_inventory(stack, text)
    stack.apply()
    use_inventory(stack, _without(text, "auto-000"))
    stack.proxy.clear()
    kept = stack.invoke("apply", "--auto-approve")
    assert kept.exit_code == 0, kept.output
    assert (
        "kept  delete  automation ml-platform/auto-000: deletes need a reviewed plan "
        "(--plan or --fingerprint) or --prune"
    ) in kept.output
    assert stack.proxy.mutations(lock=False) == []
    reviewed = stack.plan().document["fingerprint"]
    applied = stack.invoke("apply", "--fingerprint", reviewed)
    assert applied.exit_code == 0, applied.output
    assert stack.proxy.written() == {"deleteTrigger": 1}
    assert _trigger_names(stack) == ["auto-001", "auto-002"]


def test_deleting_30_percent_or_less_needs_no_force(stack: Stack) -> None:
    text = generated(automations=10)
    use_inventory(stack, text)
    stack.apply()
    use_inventory(stack, _without(text, "auto-000", "auto-001", "auto-002"))  # 3 of 12
    result = stack.invoke("apply", "--auto-approve", "--prune")
    assert result.exit_code == 0, result.output
    assert len(_trigger_names(stack)) == 7


def test_a_failed_apply_never_prunes(stack: Stack) -> None:
    text = generated(automations=3)
    use_inventory(stack, text)
    stack.apply()
    use_inventory(stack, text.replace("auto-002", "auto-new"))
    stack.proxy.clear()
    stack.proxy.add(Rule(writes("createFilterTrigger"), "status", status=400))
    result = stack.invoke("apply", "--auto-approve", "--prune")
    assert result.exit_code == 1, result.output
    assert "FAILED         create  automation ml-platform/auto-new" in result.output
    assert (
        "not attempted  delete  automation ml-platform/auto-002: "
        "not pruned: an earlier change failed"
    ) in result.output
    assert stack.proxy.written() == {"createFilterTrigger": 1}
    assert _trigger_names(stack) == ["auto-000", "auto-001", "auto-002"]


def _writes_secret(name: str) -> Callable[[Request], bool]:
    return lambda r: writes("insertSecret")(r) and r.variables.get("name") == name


def test_a_failed_change_skips_what_depends_on_it(stack: Stack) -> None:
    """A secret fails: its webhook and that webhook's automation are not attempted, nor sent."""
    use_inventory(stack, generated(automations=3, webhooks=2, secrets=2))
    stack.proxy.add(Rule(_writes_secret("TRACKER_TOKEN"), "status", status=400))
    _, report = stack.apply()
    assert [str(c.key) for c, _ in report.failed] == ["secret ml-platform/TRACKER_TOKEN"]
    assert [(str(c.key), why) for c, why in report.not_attempted] == [
        (
            "webhook ml-platform/hook-1",
            "depends on secret ml-platform/TRACKER_TOKEN, which failed",
        ),
        ("automation ml-platform/auto-001", "depends on webhook ml-platform/hook-1, which failed"),
    ]
    assert [str(c.key) for c in report.applied] == [
        "secret ml-platform/DEPLOY_TOKEN",
        "webhook ml-platform/hook-0",
        "automation ml-platform/auto-000",
        "automation ml-platform/auto-002",
    ]
    sent = [json.dumps(r.variables) for r in stack.proxy.mutations(lock=False)]
    assert stack.proxy.written() == {
        "insertSecret": 2,
        "createGenericWebhookIntegration": 1,
        "createFilterTrigger": 2,
    }
    assert [text for text in sent if "hook-1" in text or "auto-001" in text] == []
    assert _trigger_names(stack) == ["auto-000", "auto-002"]
