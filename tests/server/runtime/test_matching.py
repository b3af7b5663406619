"""Run automations: metric conditions that fire when they become true, states, run names."""

from __future__ import annotations

import json
from typing import Any

from tests.server.helpers import TEAM, World
from tests.server.runtime.support import emit

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""


def _run_automation(world: World, name: str, event_type: str, run_filter: dict[str, Any]) -> None:
    world.admin.ok(
        CREATE,
        {
            "input": {
                "name": name,
                "enabled": True,
                "scopeType": "PROJECT",
                "scopeID": world.project_id,
                "triggeringEventType": event_type,
                "eventFilter": json.dumps(run_filter),
                "triggeredActionType": "NO_OP",
                "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
            }
        },
    )


def _threshold(window: int, agg: str | None, threshold: float, names: dict[str, Any]) -> Any:
    return {
        "run_filter": json.dumps(names),
        "run_metric_filter": {
            "threshold_filter": {
                "name": "acc",
                "agg_op": agg,
                "window_size": window,
                "cmp_op": "$gt",
                "threshold": threshold,
            }
        },
        "metric_filter": None,
    }


def _logged(world: World, run: str, values: list[float | None], name: str = "sweep-1") -> list:
    fired = []
    for step, value in enumerate(values):
        metrics = {"loss": 1.0} if value is None else {"acc": value}
        event = {
            "type": "run_logged",
            "entity": TEAM,
            "project": "vision",
            "run": {"id": run, "name": name},
            "step": step,
            "metrics": metrics,
        }
        fired.append(emit(world, event).json()["events"][0]["automations"])
    return fired


def test_a_threshold_fires_when_it_becomes_true_per_run(world: World) -> None:
    _run_automation(world, "acc-high", "RUN_METRIC", _threshold(1, None, 0.9, {"$and": []}))
    got = _logged(world, "r1", [0.5, 0.95, 0.97, None, 0.5, 0.99])
    assert got == [[], ["acc-high"], [], [], [], ["acc-high"]]
    # Another run has its own state.
    assert _logged(world, "r2", [0.95]) == [["acc-high"]]


def test_an_average_over_a_window(world: World) -> None:
    _run_automation(world, "avg", "RUN_METRIC", _threshold(3, "AVERAGE", 0.5, {"$and": []}))
    # Averages of the last three values: 0.2, 0.4, 0.6 (fires), 0.63
    assert _logged(world, "r", [0.2, 0.6, 1.0, 0.3]) == [[], [], ["avg"], []]


def test_run_name_filters(world: World) -> None:
    names = {"$and": [{"display_name": {"$contains": "sweep"}}]}
    _run_automation(world, "sweeps", "RUN_METRIC", _threshold(1, None, 0.9, names))
    assert _logged(world, "a", [0.95], name="baseline") == [[]]
    assert _logged(world, "b", [0.95], name="sweep-7") == [["sweeps"]]


def test_run_state(world: World) -> None:
    states = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
    _run_automation(world, "failures", "RUN_STATE", states)

    def state(value: str) -> list[str]:
        event = {
            "type": "run_state",
            "entity": TEAM,
            "project": "vision",
            "run": {"id": "x", "name": "n"},
            "state": value,
        }
        return emit(world, event).json()["events"][0]["automations"]

    assert [state(s) for s in ("running", "finished", "failed", "crashed")] == [
        [],
        [],
        ["failures"],
        ["failures"],
    ]


def test_zscore_and_change(world: World) -> None:
    zscore = {
        "run_filter": '{"$and":[]}',
        "run_metric_filter": {
            "zscore_filter": {
                "name": "acc",
                "window_size": 4,
                "threshold": 2.0,
                "change_dir": "INCREASE",
            }
        },
    }
    change = {
        "run_filter": '{"$and":[]}',
        "run_metric_filter": {
            "change_filter": {
                "name": "acc",
                "agg_op": None,
                "current_window_size": 1,
                "prior_window_size": 1,
                "change_type": "ABSOLUTE",
                "change_dir": "DECREASE",
                "change_amount": 0.2,
            }
        },
    }
    _run_automation(world, "spike", "RUN_METRIC_ZSCORE", zscore)
    _run_automation(world, "drop", "RUN_METRIC_CHANGE", change)
    got = _logged(world, "z", [0.5, 0.6, 0.5, 0.6, 2.0, 1.7, 1.0])
    # A drop of 0.3 at step 5 fires; the larger drop after it is the same condition still true.
    assert got == [[], [], [], [], ["spike"], ["drop"], []]
