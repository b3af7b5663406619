"""Run automations: metric conditions that fire when they become true, states, run names."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from reconcile.server.runtime import matching
from tests.server.helpers import ALIAS_FILTER, TEAM, World, trigger_input, webhook
from tests.server.runtime.support import alias_event, emit

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


def _threshold(
    window: int, agg: str | None, threshold: float, names: dict[str, Any], cmp: str = "$gt"
) -> Any:
    return {
        "run_filter": json.dumps(names),
        "run_metric_filter": {
            "threshold_filter": {
                "name": "acc",
                "agg_op": agg,
                "window_size": window,
                "cmp_op": cmp,
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
    def states(*names: str) -> dict[str, Any]:
        return {"run_filter": '{"$and":[]}', "run_state_filter": {"states": list(names)}}

    # The first automation passed over for its states must not stop the others.
    _run_automation(world, "finishes", "RUN_STATE", states("FINISHED"))
    _run_automation(world, "failures", "RUN_STATE", states("FAILED"))

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
        ["finishes"],
        ["failures"],
        ["failures"],
    ]


def test_a_metric_delivery_carries_the_value_that_made_it_fire(world: World) -> None:
    """The aggregate that crossed the threshold, not the latest value logged."""
    hook = webhook(world.admin, "metrics", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, name="avg")["input"]
    made["triggeringEventType"] = "RUN_METRIC"
    made["eventFilter"] = json.dumps(_threshold(2, "AVERAGE", 0.5, {"$and": []}))
    payload = '{"name": "${metric_name}", "value": "${metric_value}"}'
    made["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = payload
    world.admin.ok(CREATE, {"input": made})
    assert _logged(world, "r", [0.25, 1.0]) == [[], ["avg"]]  # the average of both: 0.625
    with world.db.read() as con:
        shown = [json.loads(row[0]) for row in con.execute("SELECT shown FROM deliveries")]
    assert shown == [{"name": "acc", "value": "0.625"}]


def _broken_actions(world: World, *names: str) -> None:
    """Automation `good`, then copies of it whose stored action cannot be read (as an
    older server, or a hand, may have left them)."""
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="good"))
    for name in names:
        _stored_copy(world, "good", name, ALIAS_FILTER)
        with world.db.write() as con:
            con.execute("UPDATE triggers SET action_config = '{' WHERE name = ?", (name,))


def test_a_stored_action_that_cannot_be_read_costs_no_other_automation(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "_REPORTED", set())
    _broken_actions(world, "broken")
    with caplog.at_level(logging.WARNING, logger="reconcile.server.runtime.matching"):
        answers = [emit(world, alias_event(f"e{n}")) for n in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert [a.json()["events"][0]["automations"] for a in answers] == [["good"], ["good"]]
    (skipped,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == (
        "automation 'broken' (id 2) skipped: it cannot run as stored: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


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


# Threshold 0.5, `$gt`: (aggregate, window, values, the steps that fire). Each sequence
# lands exactly on 0.5 where a `>=` would fire, and differs from the latest value (or from
# an aggregate over every value) where that aggregate matters. Values are dyadic, so
# sums, averages and mirrors (1 - v) are exact.
_ABOVE = [
    (None, 1, [0.5, 0.75, 0.5, 0.875], [1, 3]),
    ("MAX", 2, [1.0, 0.0, 0.25, 0.5, 0.75], [0, 4]),
    ("MIN", 2, [0.75, 0.25, 0.875, 0.5, 0.875, 1.0], [0, 5]),
    ("AVERAGE", 2, [0.25, 0.75, 0.125, 0.875, 1.0], [4]),
]
_MIRROR = {None: None, "MAX": "MIN", "MIN": "MAX", "AVERAGE": "AVERAGE"}


@pytest.mark.parametrize("case", _ABOVE, ids=lambda case: str(case[0]))
@pytest.mark.parametrize("cmp", ["$gt", "$lt"])
def test_above_and_below_are_strict_for_the_latest_value_and_each_aggregate(
    world: World, cmp: str, case: tuple[str | None, int, list[float], list[int]]
) -> None:
    agg, window, values, fired = case
    if cmp == "$lt":  # the mirror image: below 0.5 where the original is above it
        agg, values = _MIRROR[agg], [1 - v for v in values]
    _run_automation(world, "edge", "RUN_METRIC", _threshold(window, agg, 0.5, {"$and": []}, cmp))
    got = _logged(world, "r", list(values))
    assert got == [["edge"] if step in fired else [] for step in range(len(values))]


def test_a_zscore_uses_exactly_its_window(world: World) -> None:
    zscore = {
        "run_filter": '{"$and":[]}',
        "run_metric_filter": {"zscore_filter": {"name": "acc", "window_size": 3, "threshold": 2.0}},
    }
    _run_automation(world, "spike", "RUN_METRIC_ZSCORE", zscore)
    # Over the 3 values before it ([1, 2, 3]: mean 2, spread 0.816), 4 is 2.45 spreads
    # away: it fires. A window of 4 would hold the 100 (z < 0) and not fire.
    assert _logged(world, "a", [100.0, 1.0, 2.0, 3.0, 4.0]) == [[], [], [], [], ["spike"]]
    # 3.5 is 1.84 spreads from [3, 1, 2]: no. A window of 2 ([1, 2]) would make it 4.
    assert _logged(world, "b", [3.0, 1.0, 2.0, 3.5]) == [[], [], [], []]


def _change(agg: str | None, windows: tuple[int, int], kind: str, way: str, amount: float) -> Any:
    current, prior = windows
    spec = {
        "name": "acc",
        "agg_op": agg,
        "current_window_size": current,
        "prior_window_size": prior,
        "change_type": kind,
        "change_dir": way,
        "change_amount": amount,
    }
    return {"run_filter": '{"$and":[]}', "run_metric_filter": {"change_filter": spec}}


def _zscore(window: int, threshold: float, way: str) -> Any:
    spec = {"name": "acc", "window_size": window, "threshold": threshold, "change_dir": way}
    return {"run_filter": '{"$and":[]}', "run_metric_filter": {"zscore_filter": spec}}


# (case, event type, filter, values, the steps that fire). Each fires where its change
# or z-score is exactly its amount (at least the amount fires), and the values are
# chosen so that another window, aggregate, kind or direction fires at other steps.
_CHANGES = [
    # The average of the last 2 values against that of the 4 before: at step 7, [3, 1]
    # (2) against [2, 1, 0, 1] (1). At step 6, [1, 3] (2) against [4, 2, 1, 0] (1.75)
    # does not; the latest value (3) against them, 2 against the last of them (0) or
    # against fewer of them ([2, 1, 0]: 1) would.
    (
        "average",
        "RUN_METRIC_CHANGE",
        _change("AVERAGE", (2, 4), "ABSOLUTE", "INCREASE", 1.0),
        [0, 4, 2, 1, 0, 1, 3, 1],
        [7],
    ),
    # Relative to the value before: 1 to 0.25 falls by 75%, 0.5 to 0.25 by exactly 50%.
    # (An absolute drop of 0.5 would fire at step 1 only; 0.25 to 0.5 is a rise.)
    (
        "relative",
        "RUN_METRIC_CHANGE",
        _change(None, (1, 1), "RELATIVE", "DECREASE", 0.5),
        [1, 0.25, 0.5, 0.25],
        [1, 3],
    ),
    # From 0, no relative change is defined: nothing fires, whatever follows.
    ("from zero", "RUN_METRIC_CHANGE", _change(None, (1, 1), "RELATIVE", "ANY", 0.5), [0, 4], []),
    ("any way", "RUN_METRIC_CHANGE", _change(None, (1, 1), "ABSOLUTE", "ANY", 1.0), [3, 2], [1]),
    # Over the 2 values before: [1, 2] (spread 0.5) makes 0 a z-score of -3, not an
    # increase; [2, 0] (mean 1, spread exactly 1) makes 2 a z-score of exactly 1.
    ("zscore", "RUN_METRIC_ZSCORE", _zscore(2, 1.0, "INCREASE"), [1, 2, 0, 2], [3]),
    ("zscore down", "RUN_METRIC_ZSCORE", _zscore(2, 1.0, "DECREASE"), [1, 2, 0, 2], [2]),
]


@pytest.mark.parametrize(
    ("event_type", "run_filter", "values", "fired"),
    [case[1:] for case in _CHANGES],
    ids=[case[0] for case in _CHANGES],
)
def test_a_change_and_a_zscore_fire_at_exactly_their_amount_over_exactly_their_windows(
    world: World, event_type: str, run_filter: Any, values: list[float], fired: list[int]
) -> None:
    _run_automation(world, "moved", event_type, run_filter)
    got = _logged(world, "r", list(values))
    assert got == [["moved"] if step in fired else [] for step in range(len(values))]


def _stored_copy(world: World, source: str, name: str, event_filter: str) -> None:
    """A copy of automation `source` with a filter written straight into the database,
    as an older server may have stored it (no check on the way in)."""
    with world.db.write() as con:
        con.execute(
            "INSERT INTO triggers (entity_id, name, description, enabled, scope_type, scope_id, "
            "event_type, event_filter, action_type, integration_id, action_config, created_by, "
            "created_at, updated_at) SELECT entity_id, ?, description, enabled, scope_type, "
            "scope_id, event_type, ?, action_type, integration_id, action_config, created_by, "
            "created_at, updated_at FROM triggers WHERE name = ?",
            (name, event_filter, source),
        )


def _bad_threshold(**changes: Any) -> str:
    good = _threshold(1, None, 0.9, {"$and": []})
    good["run_metric_filter"]["threshold_filter"].update(changes)
    return json.dumps(good)


def test_stored_filters_that_cannot_run_are_skipped_and_logged_once(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each test's database numbers its automations from 1 again: what an earlier test in
    # this process reported must not count as reported here.
    monkeypatch.setattr(matching, "_REPORTED", set())
    _run_automation(world, "before", "RUN_METRIC", _threshold(1, None, 0.9, {"$and": []}))
    bad = {
        "text-threshold": _bad_threshold(threshold="abc"),
        "huge-threshold": _bad_threshold().replace('"threshold": 0.9', '"threshold": ' + "9" * 400),
        "negative-window": _bad_threshold(window_size=-3),
        "endless-window": _bad_threshold(window_size=10**9),
        "not-json": "{",
        "unknown-operator": json.dumps(_threshold(1, None, 0.9, {"$where": "1"})),
    }
    for name, text in bad.items():
        _stored_copy(world, "before", name, text)
    _run_automation(world, "after", "RUN_METRIC", _threshold(1, None, 0.9, {"$and": []}))
    with caplog.at_level(logging.WARNING, logger="reconcile.server.runtime.matching"):
        # One request, with an event no automation listens to beside the metric rows.
        unrelated = {"type": "run_state", "entity": TEAM, "project": "vision", "run": {"id": "x"}}
        events = [
            {**unrelated, "state": "failed"},
            *[
                {"type": "run_logged", "entity": TEAM, "project": "vision", "run": {"id": run}}
                | {"step": 1, "metrics": {"acc": 0.95}}
                for run in ("r1", "r2")
            ],
        ]
        answer = emit(world, {"events": events})
    assert answer.status_code == 202, answer.text
    fired = [one["automations"] for one in answer.json()["events"]]
    assert fired == [[], ["before", "after"], ["before", "after"]]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(bad)  # once each, not once per event
    assert any("'endless-window'" in m and "window_size: a whole number" in m for m in skipped)
    assert all(": its stored filter cannot run: " in m for m in skipped)
    with world.db.read() as con:
        kept = con.execute(
            "SELECT t.name FROM metric_state m JOIN triggers t ON t.id = m.trigger_id"
        ).fetchall()
    assert sorted(row[0] for row in kept) == ["after", "after", "before", "before"]


def test_an_artifact_filter_that_cannot_run_costs_no_other_automation(world: World) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="good"))
    _stored_copy(world, "good", "bad", '{"alias": {"$regex": "(?=x)"}}')
    _stored_copy(world, "good", "deep", '{"$not": ' * 40 + '{"alias": "prod"}' + "}" * 40)
    answer = emit(world, alias_event("e1"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["events"][0]["automations"] == ["good"]


UPDATE = """mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { id } } }"""


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"threshold": "abc"}, 'threshold_filter.threshold: must be a number, not "abc"'),
        ({"threshold": 10**400}, "threshold_filter.threshold: 1000000000000000000000"),
        ({"window_size": -1}, "threshold_filter.window_size: a whole number from 1 to 1000"),
        ({"window_size": 10**9}, "threshold_filter.window_size: a whole number from 1 to 1000"),
        ({"cmp_op": "$ne"}, "threshold_filter.cmp_op: one of $gt, $gte, $lt, $lte"),
        ({"limit": 3}, "threshold_filter.limit: unknown key"),
    ],
)
def test_create_and_update_refuse_metric_filters_that_cannot_run(
    world: World, changes: dict[str, Any], expected: str
) -> None:
    _run_automation(world, "ok", "RUN_METRIC", _threshold(1, None, 0.9, {"$and": []}))
    made = {
        "name": "bad",
        "enabled": True,
        "scopeType": "PROJECT",
        "scopeID": world.project_id,
        "triggeringEventType": "RUN_METRIC",
        "eventFilter": _bad_threshold(**changes),
        "triggeredActionType": "NO_OP",
        "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
    }
    prefix = "BAD_USER_INPUT: eventFilter.run_metric_filter."
    assert world.admin.fails(CREATE, {"input": made}).startswith(prefix + expected)
    listed = world.admin.ok('{ entity(name: "acme") { triggers { edges { node { id } } } } }')
    (node,) = listed["entity"]["triggers"]["edges"]
    update = {"id": node["node"]["id"], "eventFilter": made["eventFilter"]}
    assert world.admin.fails(UPDATE, {"input": update}).startswith(prefix + expected)


@pytest.mark.parametrize(
    ("event_filter", "expected"),
    [
        ({"$or": [{"$and": [{"size": 3}]}]}, "eventFilter.$or[0].$and[0].size: unknown field"),
        ({"alias": {"$in": "prod"}}, "eventFilter.alias.$in: takes a list of values"),
        ({"alias": {"$exists": "yes"}}, "eventFilter.alias.$exists: $exists takes true or false"),
        ({"alias": {"$options": "i"}}, "eventFilter.alias.$options: unknown operator"),
    ],
)
def test_create_refuses_artifact_filters_that_cannot_run(
    world: World, event_filter: Any, expected: str
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, eventFilter=json.dumps(event_filter))
    assert world.admin.fails(CREATE, made).startswith(f"BAD_USER_INPUT: {expected}")


def test_the_memory_of_skipped_automations_is_emptied_when_full(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "_REPORTED", set())
    monkeypatch.setattr(matching, "_DECODED_MAX", 1)  # remembers one skipped automation
    _broken_actions(world, "first", "second")
    with caplog.at_level(logging.WARNING, logger="reconcile.server.runtime.matching"):
        for n in range(2):
            assert emit(world, alias_event(f"e{n}")).json()["events"][0]["automations"] == ["good"]
    skipped = [r.getMessage().split(" skipped")[0] for r in caplog.records]
    # Each forgets the other: both are logged again at the second event.
    assert skipped == ["automation 'first' (id 2)", "automation 'second' (id 3)"] * 2


def test_a_filter_the_inventory_has_no_words_for_fires_as_its_event(world: World) -> None:
    """An `$or` whose first branch is empty holds for every alias; the inventory cannot
    write it, but the automation fires and renders as an ADD_ARTIFACT_ALIAS one."""
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, name="any-alias")["input"]
    made["eventFilter"] = json.dumps({"$or": [{"$and": []}, {"$and": [{"alias": "prod"}]}]})
    payload = '{"event": "${event_type}", "alias": "${alias}"}'
    made["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = payload
    world.admin.ok(CREATE, {"input": made})
    answer = emit(world, alias_event("e1", alias="staging"))
    assert answer.json()["events"] == [{"id": "e1", "automations": ["any-alias"]}]
    with world.db.read() as con:
        shown = [json.loads(row[0]) for row in con.execute("SELECT shown FROM deliveries")]
    assert shown == [{"event": "ADD_ARTIFACT_ALIAS", "alias": "staging"}]
