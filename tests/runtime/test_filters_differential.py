"""Our evaluator against mongomock's, on filters the official SDK builds and random events.

Filters come from the SDK's own builders (`ArtifactEvent.alias...`, `RunEvent.name...`,
`&`, `|`, `~`) and are read back from the JSON the SDK would send. Any disagreement
fails, except where W&B is not Mongo; each of those is translated for mongomock in
`_for_mongo` and tested on its own below:
- `$contains` is W&B's (a substring test); mongomock gets the escaped text as `$regex`.
- `$not` over a whole filter (what `~expr` writes) is W&B's; Mongo has `$not` only
  inside a field's test (mongomock ignores it): mongomock gets `$nor` of the one filter.
- `{"$and": []}` (W&B's "no filter") matches everything; Mongo refuses empty lists.
- Regexes are RE2 (W&B's Go server), mongomock's are Python's: generated patterns keep
  to the syntax both read alike, and the texts hold no newline.

`RECONCILE_DIFFERENTIAL_EXAMPLES` sets the number of examples (200 in the suite).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import mongomock
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wandb.automations import ArtifactEvent, OnAddArtifactAlias, OnRunState, ProjectScope, RunEvent

from reconcile.runtime import filters
from reconcile.runtime.filters import FilterError

EXAMPLES = int(os.environ.get("RECONCILE_DIFFERENTIAL_EXAMPLES", "200"))
SCOPE = ProjectScope(id="UHJvamVjdDox", name="vision")
# Few letters, so that tests and values often meet; no newline (see the module's note).
WORDS = st.sampled_from(["prod", "preprod", "production", "gold", "golden", "", "p", "a.b", "rod"])
TEXTS = WORDS | st.text(alphabet="abdgloprst.-é", max_size=6)
# What events carry: often a word inside other text, so that where a test looks matters.
VALUES = TEXTS | st.tuples(TEXTS, WORDS, TEXTS).map("".join)
NUMBERS = st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False)
SCALARS = TEXTS | NUMBERS | st.booleans()


def _pattern_part() -> st.SearchStrategy[str]:
    atom = st.sampled_from(["a", "b", "d", "g", "l", "o", "p", "r", ".", "[a-g]", "[^p]", r"\."])
    quantified = st.tuples(atom, st.sampled_from(["", "", "*", "+", "?", "{1,2}"])).map("".join)
    return st.lists(quantified, min_size=1, max_size=4).map("".join)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    body = draw(st.lists(_pattern_part(), min_size=1, max_size=2).map("|".join))
    if "|" in body and draw(st.booleans()):
        body = f"({body})"
    return draw(st.sampled_from(["", "^"])) + body + draw(st.sampled_from(["", "$"]))


def _tests(field: Any) -> st.SearchStrategy[Any]:
    """One field's test, through the SDK's builder methods."""
    lists = st.lists(SCALARS, max_size=3)
    return st.one_of(
        patterns().map(field.matches_regex),
        TEXTS.map(field.eq),
        TEXTS.map(field.ne),
        SCALARS.map(field.eq),
        lists.map(field.in_),
        lists.map(field.not_in),
        TEXTS.map(field.contains),
        st.booleans().map(field.exists),
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), TEXTS | NUMBERS).map(
            lambda op: getattr(field, op[0])(op[1])
        ),
    )


def expressions(fields: list[Any]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(*(_tests(field) for field in fields))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda pair: pair[0] & pair[1]),
            st.tuples(inner, inner).map(lambda pair: pair[0] | pair[1]),
            inner.map(lambda expr: ~expr),
        ),
        max_leaves=8,
    )


def documents(names: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    one = st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUES))
    return st.lists(one, min_size=1, max_size=8)


def _for_mongo(value: Any) -> Any:
    """A filter document as Mongo writes the same meaning (see the module's note)."""
    if isinstance(value, list):
        return [_for_mongo(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value == {"$and": []}:
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "$not":
            out["$nor"] = [_for_mongo(item)]
        elif key == "$contains":
            out["$regex"] = re.escape(item)
        else:
            out[key] = _for_mongo(item)
    return out


def _compare(test: filters.Predicate, value: Any, docs: list[dict[str, Any]]) -> None:
    collection = mongomock.MongoClient().db.events
    collection.insert_many([{"_id": index, **doc} for index, doc in enumerate(docs)])
    theirs = sorted(found["_id"] for found in collection.find(_for_mongo(value)))
    ours = [index for index, doc in enumerate(docs) if test(doc)]
    assert ours == theirs, (value, docs)


PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROFILE
@given(expressions([ArtifactEvent.alias, ArtifactEvent.tag]), documents(["alias", "tag"]))
def test_artifact_filters_agree_with_mongomock(expr: Any, docs: list[dict[str, Any]]) -> None:
    sent = OnAddArtifactAlias(scope=SCOPE, filter=expr).model_dump(by_alias=True)["filter"]
    value = json.loads(sent)
    assert set(value) == {"$or"}  # the SDK's wrapper
    test = filters.compile_event_filter("ADD_ARTIFACT_ALIAS", value).test
    _compare(test, value, docs)


@PROFILE
@given(expressions([RunEvent.name]), documents(["display_name"]))
def test_run_name_filters_agree_with_mongomock(expr: Any, docs: list[dict[str, Any]]) -> None:
    event = OnRunState(scope=SCOPE, filter=RunEvent.state.eq("failed") & expr)
    sent = json.loads(event.model_dump(by_alias=True)["filter"])
    compiled = filters.compile_event_filter("RUN_STATE", sent)
    assert compiled.states == frozenset({"FAILED"})
    _compare(compiled.test, json.loads(sent["run_filter"]), docs)


# --- where W&B is not Mongo, each on its own --------------------------------------------


def _artifact(value: Any) -> filters.Predicate:
    return filters.compile_filter(value, filters.ARTIFACT_FIELDS)


def test_contains_is_a_substring_test_not_a_pattern() -> None:
    test = _artifact({"alias": {"$contains": "a.b"}})
    assert [test({"alias": text}) for text in ("xa.by", "axb", "A.B")] == [True, False, False]


def test_not_over_a_whole_filter_negates_it() -> None:
    value = {"$not": {"alias": "prod"}}
    test = _artifact(value)
    assert [test(doc) for doc in ({"alias": "prod"}, {"alias": "dev"}, {})] == [False, True, True]
    # Mongo has no such operator: mongomock ignores it and matches everything.
    collection = mongomock.MongoClient().db.events
    collection.insert_one({"alias": "prod"})
    assert collection.count_documents(value) == 1


def test_an_empty_and_matches_everything() -> None:
    assert _artifact({"$or": [{"$and": []}]})({})
    with pytest.raises(mongomock.OperationFailure):
        mongomock.MongoClient().db.events.count_documents({"$and": []})


@pytest.mark.parametrize(
    ("pattern", "text", "python_re"),
    [
        (r"\d", "٣", True),  # RE2's \d, \w, \s are ASCII
        (r"\w", "é", True),
        ("a$", "a\n", True),  # RE2's $ is the end of the text
    ],
)
def test_regexes_are_re2(pattern: str, text: str, python_re: bool) -> None:
    assert bool(re.search(pattern, text)) is python_re
    assert _artifact({"alias": {"$regex": pattern}})({"alias": text}) is not python_re


@pytest.mark.parametrize("pattern", ["(?=x)", "(?<!x)y", r"(a)\1"])
def test_what_only_python_regexes_have_is_refused(pattern: str) -> None:
    re.compile(pattern)
    with pytest.raises(FilterError, match="invalid RE2 regex"):
        _artifact({"alias": {"$regex": pattern}})
