"""W&B's filter language: each operator's meaning, refusals naming the path, the cache."""

from __future__ import annotations

import json
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
