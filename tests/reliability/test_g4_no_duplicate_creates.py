"""G4 no duplicate creates: a create whose answer is lost after the server committed it."""

from __future__ import annotations

from tests.reliability.conftest import Stack, generated, use_inventory
from tests.reliability.proxy import Request, Rule, writes

APPLIES = 20
CREATES = ("createFilterTrigger", "createGenericWebhookIntegration")


def _creates(request: Request) -> bool:
    return request.mutation and not request.lock and bool(set(CREATES) & set(request.fields))


def _hooks(stack: Stack) -> list[str]:
    return sorted(i["name"] for i in stack.integrations() if i["__typename"] != "SlackIntegration")


def test_every_create_answer_lost_in_one_apply_makes_one_object_each(stack: Stack) -> None:
    """Every request carrying a create (batched or not) is committed, then its answer lost."""
    use_inventory(stack, generated(automations=100, webhooks=3, secrets=2))
    lost = stack.proxy.add(Rule(_creates, "drop", times=None))
    _, report = stack.apply()
    assert report.ok, report.failed
    assert len(report.applied) == 2 + 3 + 100
    # Three webhook creates, and two batches of 50 automation creates: all committed, all lost.
    assert lost.used == 3 + 2
    # After a failed batch each of its creates is looked up by name, never sent again: a
    # server that accepted duplicate names would still hold one object per name.
    written = stack.proxy.written()
    assert written == {
        "insertSecret": 2,
        "createGenericWebhookIntegration": 3,
        "createFilterTrigger": 100,
    }
    batches = [r for r in stack.proxy.mutations(lock=False) if "createFilterTrigger" in r.fields]
    assert [len(r.fields) for r in batches] == [50, 50]
    assert sorted(t["name"] for t in stack.triggers()) == [f"auto-{i:03d}" for i in range(100)]
    assert _hooks(stack) == ["hook-0", "hook-1", "hook-2"]
    assert stack.plan().plan.changes == ()


def test_successive_applies_each_losing_their_create_answer(stack: Stack) -> None:
    """One new automation per apply, 20 times: its create commits, the answer is lost."""
    use_inventory(stack, generated(automations=0))
    stack.apply()
    lost = stack.proxy.add(Rule(writes("createFilterTrigger"), "drop", times=None))
    for count in range(1, APPLIES + 1):
        use_inventory(stack, generated(automations=count))
        _, report = stack.apply()
        assert report.ok, (count, report.failed)
        assert [c.key.name for c in report.applied] == [f"auto-{count - 1:03d}"]
        assert lost.used == count
    assert stack.proxy.written()["createFilterTrigger"] == APPLIES  # never sent twice
    names = sorted(t["name"] for t in stack.triggers())
    assert names == [f"auto-{i:03d}" for i in range(APPLIES)]
    assert stack.plan().plan.changes == ()


def test_a_conflict_after_commit_adopts_the_object(stack: Stack) -> None:
    """A 409 for a create the server did commit: re-read by name and adopted."""
    use_inventory(stack, generated(automations=5))
    stack.proxy.add(Rule(writes("createFilterTrigger"), "replace", status=409, times=None))
    stack.proxy.add(Rule(writes("createGenericWebhookIntegration"), "replace", status=409))
    _, report = stack.apply()
    assert report.ok, report.failed
    assert stack.proxy.written()["createGenericWebhookIntegration"] == 1
    assert sorted(t["name"] for t in stack.triggers()) == [f"auto-{i:03d}" for i in range(5)]
    assert stack.plan().plan.changes == ()


def test_a_conflict_with_someone_elses_object_is_not_reported_applied(stack: Stack) -> None:
    use_inventory(stack, generated(automations=1))

    def race(_: Request) -> None:  # another client wins the name just before our create
        stack.create_trigger("auto-000", "made by hand")

    stack.proxy.add(Rule(writes("createFilterTrigger"), "before", callback=race))
    _, report = stack.apply()
    [trigger] = stack.triggers()
    assert trigger["description"] == "made by hand"
    planned = stack.plan()
    assert planned.plan.conflicts  # the server's auto-000 is not ours
    assert [change.key.name for change, _ in report.failed] == ["auto-000"]
