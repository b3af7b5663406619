"""W&B's filter language: each operator's meaning, refusals naming the path, the cache."""

from __future__ import annotations

import json
import traceback
from typing import Any

import pytest

from reconcile.runtime import filters
from reconcile.runtime.filters import ARTIFACT_FIELDS, RUN_FIELDS, FilterError
from reconcile.runtime.incoming import Artifact, IncomingEvent, Run

DOCS: list[dict[str, Any]] = [
    {},
    {"alias": "prod"},
    {"alias": "preprod"},
    {"alias": "production"},
    {"alias": "staging", "tag": "gold"},
    {"tag": "golden"},
]


def _matching(value: Any) -> list[int]:
    test = filters.compile_filter(value, ARTIFACT_FIELDS)
    return [index for index, doc in enumerate(DOCS) if test(doc)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"$or": [{"$and": []}]}, [0, 1, 2, 3, 4, 5]),
        ({"alias": "prod"}, [1]),
        ({"alias": {"$eq": "prod"}}, [1]),
        ({"tag": {"$eq": "gold"}}, [4]),  # exact, not a regex search
        ({"alias": {"$ne": "prod"}}, [0, 2, 3, 4, 5]),  # a missing field is not equal
        ({"alias": {"$regex": "prod"}}, [1, 2, 3]),  # RE2 search: unanchored
        ({"alias": {"$regex": "^prod$"}}, [1]),
        ({"alias": {"$contains": "rod"}}, [1, 2, 3]),
        ({"alias": {"$in": ["prod", "staging"]}}, [1, 4]),
        ({"alias": {"$nin": ["prod", "staging"]}}, [0, 2, 3, 5]),
        ({"alias": {"$in": [None, "prod"]}}, [0, 1, 5]),  # null: the field is absent
        ({"alias": None}, [0, 5]),
        ({"alias": {"$eq": None}}, [0, 5]),
        ({"alias": {"$ne": None}}, [1, 2, 3, 4]),
        ({"alias": {"$exists": True}}, [1, 2, 3, 4]),
        ({"alias": {"$exists": False}}, [0, 5]),
        ({"alias": {"$gt": "prod"}}, [3, 4]),  # text compares with text only
        ({"alias": {"$gte": "prod", "$lt": "q"}}, [1, 3]),
        ({"alias": {"$gt": 1}}, []),  # a number never compares with text
        ({"alias": {"$eq": ["prod"]}}, []),  # a list equals no single value
        ({"alias": {"$not": {"$regex": "^pro"}}}, [0, 2, 4, 5]),
        ({"$not": {"alias": "prod"}}, [0, 2, 3, 4, 5]),
        ({"$or": [{"alias": "prod"}, {"tag": "golden"}]}, [1, 5]),
        ({"$nor": [{"alias": "prod"}, {"tag": {"$exists": True}}]}, [0, 2, 3]),
        ({"$or": []}, []),
        ({"alias": "staging", "tag": "gold"}, [4]),
        (
            {"$and": [{"$or": [{"alias": {"$regex": "prod"}}, {"tag": {"$contains": "old"}}]}]}
            | {"$nor": [{"alias": {"$in": ["preprod"]}}]},
            [1, 3, 4, 5],
        ),
    ],
)
def test_each_operator(value: Any, expected: list[int]) -> None:
    assert _matching(value) == expected


def test_numbers_and_booleans_compare_within_their_kind() -> None:
    def test(value: Any, doc: dict[str, Any]) -> bool:
        return filters.compile_filter({"alias": value}, ARTIFACT_FIELDS)(doc)

    assert test({"$eq": 1}, {"alias": 1.0})
    assert not test({"$eq": 1}, {"alias": True})
    assert not test({"$in": [1]}, {"alias": True})
    assert test({"$in": [True]}, {"alias": True})
    assert test({"$in": [1.0, "x"]}, {"alias": 1})
    assert test({"$in": [1.0, "x"]}, {"alias": "x"})  # text beside numbers in one list
    assert not test({"$in": [1.0, "x"]}, {"alias": "y"})
    assert not test({"$in": [1.0, "x"]}, {})
    assert not test({"$eq": "1"}, {"alias": 1})
    assert test({"$lt": 2}, {"alias": 1.5})
    assert not test({"$lt": 2}, {"alias": "1"})


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"alias": {"$like": "x"}}, "filter.alias.$like", "unknown operator $like"),
        ({"$where": "x"}, "filter.$where", "unknown operator $where"),
        ({"size": 3}, "filter.size", "unknown field 'size'"),
        ({"$or": [{"$and": [{}, {"alias": {"$regex": "(?=x)"}}]}]}, None, "invalid RE2"),
        ({"alias": {"$regex": 3}}, "filter.alias.$regex", "takes a pattern"),
        ({"alias": {"$in": "prod"}}, "filter.alias.$in", "takes a list"),
        ({"alias": {"$in": [{"a": 1}]}}, "filter.alias.$in[0]", "compares with"),
        ({"alias": {"$exists": 1}}, "filter.alias.$exists", "true or false"),
        ({"alias": {"$contains": 1}}, "filter.alias.$contains", "takes text"),
        ({"alias": {"$gt": None}}, "filter.alias.$gt", "compares with null"),
        ({"alias": {"$eq": 10**400}}, "filter.alias.$eq", "too large"),
        ({"alias": {"$eq": float("nan")}}, "filter.alias.$eq", "not a finite number"),
        ({"alias": {}}, "filter.alias", "an empty test"),
        ({"alias": {"$not": "x"}}, "filter.alias.$not", "$not takes an object"),
        ({"$and": {"alias": "x"}}, "filter.$and", "takes a list"),
        ([], "filter", "must be an object"),
    ],
)
def test_what_cannot_run_is_refused_naming_the_path(
    value: Any, path: str | None, reason: str
) -> None:
    with pytest.raises(FilterError) as caught:
        filters.compile_filter(value, ARTIFACT_FIELDS)
    expected = path or "filter.$or[0].$and[1].alias.$regex"
    assert caught.value.path == expected
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{expected}: ")


def test_nesting_is_bounded() -> None:
    deep: Any = {"alias": "x"}
    for _ in range(filters.DEPTH_MAX + 1):
        deep = {"$not": deep}
    with pytest.raises(FilterError, match="nests deeper than 32 levels"):
        filters.compile_filter(deep, ARTIFACT_FIELDS)


def test_run_filters_test_the_display_name() -> None:
    test = filters.compile_filter({"display_name": {"$regex": "^sweep-"}}, RUN_FIELDS)
    assert test({"display_name": "sweep-7"})
    assert not test({"display_name": "a-sweep-7"})
    with pytest.raises(FilterError, match="unknown field 'alias'"):
        filters.compile_filter({"alias": "x"}, RUN_FIELDS)


def _event(**fields: Any) -> IncomingEvent:
    return IncomingEvent(entity="acme", project="vision", **fields)


def test_event_documents() -> None:
    artifact = Artifact(3)
    alias = _event(type="alias_added", collection="c", artifact=artifact, alias="prod")
    assert filters.document(alias) == {"alias": "prod"}
    linked = _event(type="artifact_linked", collection="c", artifact=artifact)
    assert filters.document(linked) == {}
    tag = _event(type="collection_tag_added", collection="c", tag="gold")
    assert filters.document(tag) == {"tag": "gold"}
    run = _event(type="run_state", run=Run("r1", "sweep-7"), state="crashed")
    assert filters.document(run) == {"display_name": "sweep-7"}
    assert filters.state_of(run) == "FAILED"


THRESHOLD = {"name": "acc", "agg_op": "AVERAGE", "window_size": 5, "cmp_op": "$gt", "threshold": 1}


def _metric(**changes: Any) -> dict[str, Any]:
    return {
        "run_filter": '{"$and":[]}',
        "run_metric_filter": {"threshold_filter": {**THRESHOLD, **changes}},
        "metric_filter": None,
    }


def test_a_stored_run_filter_compiles_with_its_condition() -> None:
    made = filters.compile_event_filter("RUN_METRIC", _metric())
    assert made.metric == filters.Metric("threshold", "acc", 5, 1, aggregate="average", cmp="$gt")
    assert made.metric.needed == 5
    state = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["crashed", "RUNNING"]}}
    assert filters.compile_event_filter("RUN_STATE", state).states == {"FAILED", "RUNNING"}
    read_back = {"filter": json.dumps({"$or": [{"$and": [{"alias": "prod"}]}]})}
    artifact = filters.compile_event_filter("ADD_ARTIFACT_ALIAS", read_back)
    assert artifact.test({"alias": "prod"})
    assert not artifact.test({"alias": "production"})


def test_the_read_back_form_holds_text_or_an_object_and_names_its_place() -> None:
    for inner in ({"alias": "prod"}, '{"alias": "prod"}'):
        made = filters.compile_event_filter("ADD_ARTIFACT_ALIAS", {"filter": inner})
        assert (made.test({"alias": "prod"}), made.test({"alias": "preprod"})) == (True, False)
    with pytest.raises(FilterError) as caught:
        filters.compile_event_filter("ADD_ARTIFACT_ALIAS", {"filter": {"size": 1}})
    assert str(caught.value) == (
        "eventFilter.filter.size: unknown field 'size' (this event has alias, tag)"
    )


def test_a_run_state_filter_keeps_its_run_name_test() -> None:
    value = {"run_filter": '{"display_name": {"$regex": "^sweep-"}}'}
    made = filters.compile_event_filter(
        "RUN_STATE", value | {"run_state_filter": {"states": ["FAILED"]}}
    )
    assert made.states == {"FAILED"}
    assert made.metric is None
    assert (made.test({"display_name": "sweep-3"}), made.test({"display_name": "a-sweep"})) == (
        True,
        False,
    )


def test_a_regex_that_cannot_compile_logs_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    # RE2 logs a bad pattern to stderr unless told not to: a stored filter tried at every
    # event would fill the server's log.
    capfd.readouterr()
    for pattern in ("(?=x)", "(", "a{2,1}"):
        with pytest.raises(FilterError, match="invalid RE2 regex"):
            filters.compile_filter({"alias": {"$regex": pattern}}, ARTIFACT_FIELDS)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        (_metric(threshold="abc"), "threshold_filter.threshold", "must be a number"),
        (_metric(threshold=10**400), "threshold_filter.threshold", "too large"),
        (_metric(threshold=True), "threshold_filter.threshold", "must be a number"),
        (_metric(window_size=-1), "threshold_filter.window_size", "from 1 to 1000"),
        (_metric(window_size=10**9), "threshold_filter.window_size", "from 1 to 1000"),
        (_metric(window_size=2.5), "threshold_filter.window_size", "from 1 to 1000"),
        (_metric(cmp_op="$ne"), "threshold_filter.cmp_op", "one of $gt, $gte, $lt, $lte"),
        (_metric(agg_op="MEDIAN"), "threshold_filter.agg_op", "one of MAX, MIN, AVERAGE"),
        (_metric(name=""), "threshold_filter.name", "needs the metric's name"),
        (_metric(extra=1), "threshold_filter.extra", "unknown key"),
        (
            {**_metric(), "run_filter": '{"display_name": {"$like": "x"}}'},
            "run_filter.display_name.$like",
            "unknown operator",
        ),
        ({**_metric(), "run_filter": "{"}, "run_filter", "not valid JSON"),
        ({**_metric(), "other": 1}, "other", "unknown key for RUN_METRIC"),
        ({**_metric(), "metric_filter": {}}, "metric_filter", "must be null"),
    ],
)
def test_metric_filters_that_cannot_run_are_refused(value: Any, path: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        filters.compile_event_filter("RUN_METRIC", value)
    assert caught.value.path.removeprefix("eventFilter.").removeprefix("run_metric_filter.") == path
    assert reason in caught.value.reason


def test_change_and_zscore_bounds() -> None:
    change = {
        "change_filter": {
            "name": "loss",
            "agg_op": None,
            "current_window_size": 1000,
            "prior_window_size": 1000,
            "change_type": "RELATIVE",
            "change_dir": "DECREASE",
            "change_amount": 0.5,
        }
    }
    made = filters.compile_event_filter("RUN_METRIC_CHANGE", {"run_metric_filter": change})
    assert made.metric is not None
    assert made.metric.needed == 2000
    change["change_filter"]["change_amount"] = -1
    with pytest.raises(FilterError, match=r"change_amount: must be above 0"):
        filters.compile_event_filter("RUN_METRIC_CHANGE", {"run_metric_filter": change})
    zscore = {"zscore_filter": {"name": "loss", "window_size": 1001}}
    with pytest.raises(FilterError, match=r"zscore_filter\.window_size: a whole number"):
        filters.compile_event_filter("RUN_METRIC_ZSCORE", {"run_metric_filter": zscore})


def test_filters_are_compiled_once_per_text_and_ten_thousand_do_not_thrash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = filters.compile_event_filter

    def counted(event_type: str, value: Any, path: str = "eventFilter") -> filters.Compiled:
        calls.append(event_type)
        return original(event_type, value, path)

    monkeypatch.setattr(filters, "compile_event_filter", counted)
    monkeypatch.setattr(filters, "_CACHE", {})
    texts = [json.dumps({"alias": {"$regex": f"^v{n}$"}}) for n in range(10_000)]
    for _ in range(2):
        for text in texts:
            assert filters.compiled("ADD_ARTIFACT_ALIAS", text).test({"alias": "v7"}) == (
                text == texts[7]
            )
    assert len(calls) == 10_000
    broken = '{"alias": {"$like": "x"}}'
    for _ in range(3):
        with pytest.raises(FilterError, match="unknown operator"):
            filters.compiled("ADD_ARTIFACT_ALIAS", broken)
    assert len(calls) == 10_001  # a filter that cannot run is not compiled again either


_KNOWN = (
    "$and, $contains, $eq, $exists, $gt, $gte, $in, $lt, $lte, $ne, $nin, $nor, $not, $or, $regex"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"alias": {"$like": "x"}},
            f"filter.alias.$like: unknown operator $like (known: {_KNOWN})",
        ),
        ({"$where": "x"}, f"filter.$where: unknown operator $where (known: {_KNOWN})"),
        ({"size": 3}, "filter.size: unknown field 'size' (this event has alias, tag)"),
        (
            {"alias": {"$regex": "(?=x)"}},
            "filter.alias.$regex: invalid RE2 regex '(?=x)': invalid perl operator: (?=",
        ),
        ({"alias": {"$regex": 3}}, "filter.alias.$regex: $regex takes a pattern (text), not 3"),
        ({"alias": {"$in": "prod"}}, 'filter.alias.$in: takes a list of values, not "prod"'),
        (
            {"alias": {"$eq": [1, {"a": 1}]}},
            'filter.alias.$eq[1]: compares with {"a": 1}; give text, a number or true/false',
        ),
        ({"alias": {"$exists": 1}}, "filter.alias.$exists: $exists takes true or false, not 1"),
        ({"alias": {"$contains": 1}}, "filter.alias.$contains: $contains takes text, not 1"),
        (
            {"alias": {"$gt": None}},
            "filter.alias.$gt: $gt compares with null; give text or a number",
        ),
        (
            {"alias": {"$lte": 10**400}},
            f"filter.alias.$lte: {'1' + '0' * 56}... is too large for a number",
        ),
        ({"alias": {"$eq": float("inf")}}, "filter.alias.$eq: Infinity is not a finite number"),
        (
            {"alias": {}},
            "filter.alias: an empty test: give an operator such as $eq or $regex",
        ),
        (
            {"alias": {"$not": {}}},
            "filter.alias.$not: $not takes an object of operators, like {'$eq': 'prod'}",
        ),
        (
            {"$not": {"size": 1}},
            "filter.$not.size: unknown field 'size' (this event has alias, tag)",
        ),
        (
            {"tag": [{"a": 1}]},  # a bare value is $eq's
            'filter.tag.$eq[0]: compares with {"a": 1}; give text, a number or true/false',
        ),
        ({"$nor": "x"}, "filter.$nor: $nor takes a list of filters"),
        ({"$or": [{}, []]}, "filter.$or[1]: a filter must be an object, not []"),
        # Values are shown as JSON, letters as they are, cut past 60 characters.
        ("é" * 58, f'filter: a filter must be an object, not "{"é" * 58}"'),
        ("é" * 59, f'filter: a filter must be an object, not "{"é" * 56}...'),
    ],
)
def test_every_refusal_says_exactly_what_and_where(value: Any, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        filters.compile_filter(value, ARTIFACT_FIELDS)
    assert str(caught.value) == message


def test_nesting_up_to_the_limit_is_accepted_in_filters_and_in_field_tests() -> None:
    deep: Any = {"alias": "x"}
    for _ in range(filters.DEPTH_MAX):
        deep = {"$not": deep}
    assert filters.compile_filter(deep, ARTIFACT_FIELDS)({"alias": "y"}) is False
    field: Any = {"$eq": "x"}
    for _ in range(filters.DEPTH_MAX - 1):
        field = {"$not": field}
    test = filters.compile_filter({"alias": field}, ARTIFACT_FIELDS)
    assert test({"alias": "x"}) is False  # 31 negations of $eq: an odd number
    assert test({"alias": "y"}) is True
    with pytest.raises(FilterError) as caught:
        filters.compile_filter({"alias": {"$not": field}}, ARTIFACT_FIELDS)
    assert caught.value.reason == "nests deeper than 32 levels"
    assert caught.value.path == "filter.alias" + ".$not" * filters.DEPTH_MAX


def test_a_run_event_without_a_state_has_none() -> None:
    assert filters.state_of(_event(type="run_state", run=Run("r1", "a"))) == ""
    assert filters.state_of(_event(type="run_state", run=Run("r1", "a"), state="finished")) == (
        "FINISHED"
    )


def _run_metric(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"run_filter": None, "run_metric_filter": {kind: spec}}


@pytest.mark.parametrize(
    ("event_type", "value", "message"),
    [
        ("NOPE", {}, "eventFilter: unknown event type NOPE"),
        ("RUN_METRIC", [], "eventFilter: must be an object, not []"),
        (
            "RUN_METRIC",
            {"other": 1},
            "eventFilter.other: unknown key for RUN_METRIC"
            " (known: metric_filter, run_filter, run_metric_filter)",
        ),
        (
            "RUN_STATE",
            {"run_filter": "{"},
            "eventFilter.run_filter: not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            "RUN_STATE",
            {"run_filter": "[" * 100_000},
            "eventFilter.run_filter: nests deeper than 32 levels",
        ),
        (
            "RUN_STATE",
            {"run_filter": {"alias": "x"}},
            "eventFilter.run_filter.alias: unknown field 'alias' (this event has display_name)",
        ),
        (
            "RUN_STATE",
            {"run_state_filter": {"states": ["RUNNING"], "x": 1}},
            'eventFilter.run_state_filter: must be {"states": [...]}',
        ),
        (
            "RUN_STATE",
            {"run_state_filter": {"states": []}},
            "eventFilter.run_state_filter.states: a non-empty list of RUNNING, FINISHED, FAILED",
        ),
        (
            "RUN_STATE",
            {"run_state_filter": {"states": ["RUNNING", 3]}},
            "eventFilter.run_state_filter.states[1]: 3 is not a run state",
        ),
        (
            "RUN_METRIC",
            {"metric_filter": {}},
            "eventFilter.metric_filter: the legacy metric_filter must be null",
        ),
        (
            "RUN_METRIC",
            {"run_metric_filter": {"threshold_filter": 3}},
            "eventFilter.run_metric_filter: RUN_METRIC needs {'threshold_filter': {...}}"
            " and nothing else",
        ),
        (
            "RUN_METRIC",
            _run_metric("threshold_filter", {"name": "a", "x": 1}),
            "eventFilter.run_metric_filter.threshold_filter.x: unknown key"
            " (known: name, agg_op, window_size, cmp_op, threshold)",
        ),
        (
            "RUN_METRIC",
            _run_metric("threshold_filter", {"name": 3}),
            "eventFilter.run_metric_filter.threshold_filter.name: needs the metric's name",
        ),
        (
            "RUN_METRIC",
            _run_metric("threshold_filter", {"name": "a", "threshold": 1, "window_size": 1001}),
            "eventFilter.run_metric_filter.threshold_filter.window_size:"
            " a whole number from 1 to 1000, not 1001",
        ),
        (
            "RUN_METRIC",
            _run_metric("threshold_filter", {"name": "a", "threshold": 1, "cmp_op": None}),
            "eventFilter.run_metric_filter.threshold_filter.cmp_op:"
            " one of $gt, $gte, $lt, $lte, not null",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric("change_filter", {"name": "l", "change_amount": 0}),
            "eventFilter.run_metric_filter.change_filter.change_amount: must be above 0, not 0",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric("change_filter", {"name": "l", "change_amount": 1, "change_dir": "ANY"}),
            "eventFilter.run_metric_filter.change_filter.change_type:"
            " one of ABSOLUTE, RELATIVE, not null",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric(
                "change_filter",
                {"name": "l", "change_amount": 1, "change_type": "ABSOLUTE", "change_dir": "UP"},
            ),
            "eventFilter.run_metric_filter.change_filter.change_dir:"
            ' one of INCREASE, DECREASE, ANY, not "UP"',
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric("change_filter", {"name": "l", "current_window_size": 0}),
            "eventFilter.run_metric_filter.change_filter.current_window_size:"
            " a whole number from 1 to 1000, not 0",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric("change_filter", {"name": "l", "change_amount": 1, "agg_op": "SUM"}),
            "eventFilter.run_metric_filter.change_filter.agg_op:"
            ' one of MAX, MIN, AVERAGE, not "SUM"',
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric(
                "change_filter", {"name": "l", "change_amount": 1, "prior_window_size": 1001}
            ),
            "eventFilter.run_metric_filter.change_filter.prior_window_size:"
            " a whole number from 1 to 1000, not 1001",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric(
                "change_filter", {"name": "l", "change_amount": 1, "change_type": "ABSOLUTE"}
            ),
            "eventFilter.run_metric_filter.change_filter.change_dir:"
            " one of INCREASE, DECREASE, ANY, not null",
        ),
        (
            "RUN_METRIC",
            {"run_metric_filter": {"threshold_filter": {"name": "a"}, "zscore_filter": {}}},
            "eventFilter.run_metric_filter: RUN_METRIC needs {'threshold_filter': {...}}"
            " and nothing else",
        ),
        (
            "RUN_METRIC_CHANGE",
            _run_metric("change_filter", {"name": "l", "change_amount": "1"}),
            'eventFilter.run_metric_filter.change_filter.change_amount: must be a number, not "1"',
        ),
        (
            "RUN_METRIC_ZSCORE",
            _run_metric("zscore_filter", {"name": "l", "change_dir": "UP"}),
            "eventFilter.run_metric_filter.zscore_filter.change_dir:"
            ' one of INCREASE, DECREASE, ANY, not "UP"',
        ),
        (
            "RUN_METRIC_ZSCORE",
            _run_metric("zscore_filter", {"name": "l", "threshold": -0.5}),
            "eventFilter.run_metric_filter.zscore_filter.threshold: must be above 0, not -0.5",
        ),
    ],
)
def test_every_stored_filter_refusal_says_exactly_what_and_where(
    event_type: str, value: Any, message: str
) -> None:
    with pytest.raises(FilterError) as caught:
        filters.compile_event_filter(event_type, value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("event_type", "spec", "metric"),
    [
        (
            "RUN_METRIC",
            {"threshold_filter": {"name": "acc", "threshold": 0.5, "cmp_op": "$lte"}},
            filters.Metric("threshold", "acc", 1, 0.5, cmp="$lte"),
        ),
        (
            "RUN_METRIC",
            {
                "threshold_filter": {"name": "acc", "threshold": 2, "cmp_op": "$GTE"}
                | {"agg_op": "max", "window_size": None}
            },
            filters.Metric("threshold", "acc", 1, 2, aggregate="max", cmp="$gte"),
        ),
        (
            "RUN_METRIC_CHANGE",
            {
                "change_filter": {"name": "l", "change_amount": 1, "change_type": "relative"}
                | {"change_dir": "Increase", "current_window_size": 3, "agg_op": "MIN"}
            },
            filters.Metric(
                "change",
                "l",
                3,
                1.0,
                "min",
                prior_window=3,
                change="relative",
                direction="increase",
            ),
        ),
        (
            "RUN_METRIC_CHANGE",
            {
                "change_filter": {"name": "l", "change_amount": 2, "change_type": "ABSOLUTE"}
                | {"change_dir": "DECREASE", "prior_window_size": 4}
            },
            filters.Metric(
                "change", "l", 1, 2.0, prior_window=4, change="absolute", direction="decrease"
            ),
        ),
        (
            "RUN_METRIC_ZSCORE",
            {"zscore_filter": {"name": "l"}},
            filters.Metric("zscore", "l", 30, 3.0, direction="any"),
        ),
        (
            "RUN_METRIC_ZSCORE",
            {
                "zscore_filter": {
                    "name": "l",
                    "window_size": 7,
                    "threshold": 2,
                    "change_dir": "decrease",
                }
            },
            filters.Metric("zscore", "l", 7, 2.0, direction="decrease"),
        ),
    ],
)
def test_each_metric_condition_compiles_to_exactly_its_fields(
    event_type: str, spec: dict[str, Any], metric: filters.Metric
) -> None:
    made = filters.compile_event_filter(event_type, {"run_metric_filter": spec})
    assert made.metric == metric
    assert made.states is None
    assert made.test is filters._true


def test_the_needed_values_of_each_kind_of_condition() -> None:
    assert filters.Metric("threshold", "a", 5, 1.0).needed == 5
    assert filters.Metric("change", "a", 5, 1.0, prior_window=3).needed == 8
    assert filters.Metric("zscore", "a", 5, 1.0).needed == 6


def test_the_cache_is_emptied_when_full_and_keeps_what_cannot_run_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(filters, "_CACHE", {})
    monkeypatch.setattr(filters, "CACHE_MAX", 3)
    texts = [json.dumps({"alias": f"v{n}"}) for n in range(3)]
    for text in texts:
        filters.compiled("ADD_ARTIFACT_ALIAS", text)
    assert len(filters._CACHE) == 3
    filters.compiled("ADD_ARTIFACT_ALIAS", '{"alias": "v3"}')
    assert list(filters._CACHE) == [("ADD_ARTIFACT_ALIAS", '{"alias": "v3"}')]
    with pytest.raises(FilterError) as caught:
        filters.compiled("RUN_STATE", "{")
    assert caught.value.path == "eventFilter"
    assert caught.value.reason.startswith("Expecting property name")
    kept = filters._CACHE[("RUN_STATE", "{")]
    assert kept is caught.value
    with pytest.raises(FilterError) as unknown:
        filters.compiled("ADD_ARTIFACT_ALIAS", '{"size": 1}')
    assert str(unknown.value) == (
        "eventFilter.size: unknown field 'size' (this event has alias, tag)"
    )
    frames = len(list(traceback.walk_tb(kept.__traceback__)))
    for _ in range(3):
        with pytest.raises(FilterError):
            filters.compiled("RUN_STATE", "{")
        assert len(list(traceback.walk_tb(kept.__traceback__))) == frames


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_and_or_and_nor_of_any_number_of_filters(count: int) -> None:
    names = [f"n{i}" for i in range(count)]
    unlike = [{"alias": {"$ne": name}} for name in names]
    like = [{"alias": name} for name in names]

    def test(value: Any, alias: str) -> bool:
        return filters.compile_filter(value, ARTIFACT_FIELDS)({"alias": alias})

    for name in names:  # each part decides: the first, a middle or the last
        assert test({"$and": unlike}, name) is False
        assert test({"$or": like}, name) is True
        assert test({"$nor": like}, name) is False
    assert test({"$and": unlike}, "other") is True
    assert test({"$or": like}, "other") is False
    assert test({"$nor": like}, "other") is True
    fields = {"alias": {"$ne": "a", "$regex": "^b", "$contains": "c", "$exists": True}}
    assert filters.compile_filter(fields, ARTIFACT_FIELDS)({"alias": "bxc"}) is True
    for alias in ("a", "xc", "bx", "b"):
        assert filters.compile_filter(fields, ARTIFACT_FIELDS)({"alias": alias}) is False


def test_too_deep_a_filter_is_named_where_it_passes_the_limit() -> None:
    deep: Any = {"alias": "x"}
    for _ in range(filters.DEPTH_MAX + 1):
        deep = {"$or": [deep]}
    with pytest.raises(FilterError) as caught:
        filters.compile_filter(deep, ARTIFACT_FIELDS)
    assert str(caught.value) == "filter" + ".$or[0]" * 33 + ": nests deeper than 32 levels"
