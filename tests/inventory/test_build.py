"""Model values carry every default, so terse and explicit YAML build equal values."""

from __future__ import annotations

from reconcile.core.model import Action, Event, Scope
from reconcile.inventory.load import load_inventory
from tests.conftest import WriteFiles

TERSE = """
entity: ml
automations:
  - name: acc
    scope: {project: p}
    when: {run_metric: {metric: acc, above: 0.9}}
    then: {no_op: }
  - name: jump
    scope: {project: p}
    when:
      run_metric_change:
        {metric: loss, direction: increase, amount: 0.2, aggregate: max, window: 4}
    then: {slack: {channel: "#ml", title: Loss}}
  - name: z
    scope: {project: p}
    when: {run_metric_zscore: {metric: loss}}
    then: {no_op: {}}
  - name: states
    scope: {registry: model}
    when: {alias_added: }
    then: {no_op: }
"""


def test_defaults_are_filled_in(write_files: WriteFiles) -> None:
    write_files({"a.yaml": TERSE})
    acc, jump, z, states = load_inventory(["automations"]).automations
    assert acc.enabled is True
    assert acc.description == ""
    assert acc.protect is False
    assert acc.event == Event(
        "run_metric",
        {"metric": "acc", "above": 0.9, "aggregate": None, "window": 1, "run_name": None},
    )
    assert jump.event.params["prior_window"] == 4
    assert jump.event.params["change"] == "absolute"
    assert jump.action == Action(
        "slack", {"channel": "ml", "title": "Loss", "message": "", "severity": "info"}
    )
    assert z.event.params == {
        "metric": "loss",
        "threshold": 3.0,
        "window": 30,
        "direction": "any",
        "run_name": None,
    }
    assert states.scope == Scope("wandb-registry-model")
    assert states.scope.registry == "model"
    assert states.event == Event("alias_added", {"alias": None})


def test_run_states_are_ordered_canonically(write_files: WriteFiles) -> None:
    write_files(
        {
            "a.yaml": """
        entity: ml
        automations:
          - name: s
            scope: {project: p}
            when: {run_state: {states: [failed, running]}}
            then: {no_op: }
    """
        }
    )
    [auto] = load_inventory(["automations"]).automations
    assert auto.event.params["states"] == ["running", "failed"]


def test_resources_take_the_file_entity_unless_they_name_their_own(write_files: WriteFiles) -> None:
    write_files(
        {
            "a.yaml": """
        entity: ml
        secrets:
          - name: A
          - name: B
            entity: other
            from_env: B_VALUE
    """
        }
    )
    a, b = load_inventory(["automations"]).secrets
    assert (a.entity, a.from_env) == ("ml", "A")
    assert (b.entity, b.from_env) == ("other", "B_VALUE")
