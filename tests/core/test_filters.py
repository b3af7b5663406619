"""Every alias, tag and run-name filter the SDK writes has one YAML form, and back.

The SDK's own builders (`ArtifactEvent.alias...`, `RunEvent.name...`, `&`, `|`, `~`)
make the wire filter; the inventory's form must decode from it and encode to the same
bytes, so `export --adopt` then `apply` leaves an SDK-made automation as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wandb.automations import (
    ArtifactEvent,
    OnAddArtifactAlias,
    OnAddArtifactTag,
    OnRunMetric,
    OnRunState,
    ProjectScope,
    RunEvent,
)

from reconcile.core import filters
from reconcile.core.model import Event
from reconcile.core.wire import decode_event, encode_event

SCOPE = ProjectScope(id="UHJvamVjdDox", name="vision")
A = ArtifactEvent.alias
T = ArtifactEvent.tag
N = RunEvent.name

# (id, the SDK's filter, the inventory's alias test): one of each form the SDK writes.
ALIAS_FORMS: list[tuple[str, Callable[[], Any], Any]] = [
    ("regex", lambda: A.matches_regex("^prod$"), "^prod$"),
    ("eq", lambda: A.eq("prod"), {"equals": "prod"}),
    ("ne", lambda: A.ne("dev"), {"not_equals": "dev"}),
    ("in", lambda: A.in_(["prod", "staging"]), {"one_of": ["prod", "staging"]}),
    ("in-empty", lambda: A.in_([]), {"one_of": []}),
    ("not-in", lambda: A.not_in(["dev", "tmp"]), {"none_of": ["dev", "tmp"]}),
    ("contains", lambda: A.contains("prod"), {"contains": "prod"}),
    ("exists", A.exists, {"exists": True}),
    ("exists-false", lambda: A.exists(False), {"exists": False}),
    ("gt", lambda: A.gt("v1"), {"above": "v1"}),
    ("gte", lambda: A.gte("v1"), {"at_least": "v1"}),
    ("lt", lambda: A.lt("v9"), {"below": "v9"}),
    ("lte", lambda: A.lte("v9"), {"at_most": "v9"}),
    ("eq-number", lambda: A.eq(5), {"equals": 5}),
    ("eq-float", lambda: A.eq(1.5), {"equals": 1.5}),
    ("eq-bool", lambda: A.eq(True), {"equals": True}),
    ("eq-list", lambda: A.eq(["a", "b"]), {"equals": ["a", "b"]}),
    ("regex-empty", lambda: A.matches_regex(""), {"matches": ""}),
    ("eq-raw-dict", lambda: {"alias": "prod"}, {"equals": "prod"}),
    ("and", lambda: A.eq("a") & A.ne("b"), {"all": [{"equals": "a"}, {"not_equals": "b"}]}),
    ("or", lambda: A.eq("a") | A.matches_regex("^b"), {"any": [{"equals": "a"}, "^b"]}),
    ("not", lambda: ~A.eq("a"), {"not": {"equals": "a"}}),
    ("not-regex", lambda: ~A.matches_regex("^tmp"), {"not": "^tmp"}),
    (
        "nor",
        lambda: ~(A.eq("a") | A.contains("b")),
        {"not_any": [{"equals": "a"}, {"contains": "b"}]},
    ),
    (
        "not-and",
        lambda: ~(A.eq("a") & A.eq("b")),
        {"not": {"all": [{"equals": "a"}, {"equals": "b"}]}},
    ),
    ("not-not", lambda: ~~A.eq("a"), {"equals": "a"}),
    (
        "or-of-and",
        lambda: A.eq("a") | (A.ne("b") & ~A.contains("c")),
        {"any": [{"equals": "a"}, {"all": [{"not_equals": "b"}, {"not": {"contains": "c"}}]}]},
    ),
    (
        "deep",
        lambda: (A.eq("a") | (A.ne("b") & ~A.contains("c"))) & ~(A.exists() | A.in_(["q"])),
        {
            "all": [
                {
                    "any": [
                        {"equals": "a"},
                        {"all": [{"not_equals": "b"}, {"not": {"contains": "c"}}]},
                    ]
                },
                {"not_any": [{"exists": True}, {"one_of": ["q"]}]},
            ]
        },
    ),
    # Written by hand, as dicts: Mongo's forms the builders do not make.
    (
        "field-operators",
        lambda: {"alias": {"$regex": "^v", "$ne": "v0"}},
        {"matches": "^v", "not_equals": "v0"},
    ),
    ("field-not", lambda: {"alias": {"$not": {"$regex": "^tmp"}}}, {"not": "^tmp"}),
]


def _sdk_filter(event: Any) -> str:
    """The eventFilter string the SDK sends for `event`."""
    return str(json.loads(event.model_dump_json())["filter"])


def _ours(event: Event) -> str:
    return json.dumps(encode_event(event)[1], separators=(",", ":"), ensure_ascii=False)


def _read_back(wire_type: str, sent: str) -> Event:
    """Decoded as the server gives an artifact filter back: wrapped in `{"filter": ...}`."""
    data = json.loads(sent)
    return decode_event(wire_type, json.dumps({"filter": data}) if "$or" in data else sent)


@pytest.mark.parametrize(("form", "make", "test"), ALIAS_FORMS, ids=[f[0] for f in ALIAS_FORMS])
def test_every_alias_form_the_sdk_writes_decodes_and_encodes_to_its_bytes(
    form: str, make: Callable[[], Any], test: Any
) -> None:
    sent = _sdk_filter(OnAddArtifactAlias(scope=SCOPE, filter=make()))
    event = _read_back("ADD_ARTIFACT_ALIAS", sent)
    assert event == Event("alias_added", {"alias": test})
    if form not in ("eq-raw-dict", "field-not"):  # the SDK's bytes for these are Mongo's
        assert _ours(event) == sent  # shorthand; ours mean the same
    assert filters.canonical("alias", test) == test


TAG_FORMS: list[tuple[str, Callable[[], Any], Any]] = [
    ("eq", lambda: T.eq("gold"), "gold"),
    ("regex", lambda: T.matches_regex("^gold"), {"matches": "^gold"}),
    ("ne", lambda: T.ne("gold"), {"not_equals": "gold"}),
    ("not-in", lambda: T.not_in(["a"]), {"none_of": ["a"]}),
    ("or", lambda: T.eq("gold") | T.eq("silver"), {"any": ["gold", "silver"]}),
    ("not", lambda: ~T.contains("old"), {"not": {"contains": "old"}}),
    ("nor", lambda: ~(T.eq("a") | T.exists(False)), {"not_any": ["a", {"exists": False}]}),
]


@pytest.mark.parametrize(("form", "make", "test"), TAG_FORMS, ids=[f[0] for f in TAG_FORMS])
def test_every_tag_form_decodes_and_encodes_to_its_bytes(
    form: str, make: Callable[[], Any], test: Any
) -> None:
    sent = _sdk_filter(OnAddArtifactTag(scope=SCOPE, filter=make()))
    event = _read_back("ADD_ARTIFACT_TAG", sent)
    assert event == Event("tag_added", {"tag": test})
    assert _ours(event) == sent


def test_a_bare_tag_is_exact_and_a_bare_alias_a_regex() -> None:
    assert filters.encode("tag", "gold") == [{"tag": {"$eq": "gold"}}]
    assert filters.encode("alias", "gold") == [{"alias": {"$regex": "gold"}}]
    assert filters.decode("tag", [{"tag": {"$regex": "gold"}}]) == {"matches": "gold"}
    assert filters.decode("tag", [{"tag": {"$eq": "gold"}}]) == "gold"
    assert filters.decode("tag", [{"tag": {"$eq": ""}}]) == {"equals": ""}


RUN_FORMS: list[tuple[str, Callable[[], Any], Any]] = [
    ("none", lambda: None, None),
    ("contains", lambda: N.contains("train"), {"contains": "train"}),
    ("regex", lambda: N.matches_regex("^train-"), {"matches": "^train-"}),
    ("eq", lambda: N.eq("baseline"), {"equals": "baseline"}),
    ("ne", lambda: N.ne("baseline"), {"not_equals": "baseline"}),
    ("in", lambda: N.in_(["a", "b"]), {"one_of": ["a", "b"]}),
    ("not-in", lambda: N.not_in(["a"]), {"none_of": ["a"]}),
    ("exists", N.exists, {"exists": True}),
    (
        "or",
        lambda: N.eq("a") | N.matches_regex("b$"),
        {"any": [{"equals": "a"}, {"matches": "b$"}]},
    ),
    ("not", lambda: ~N.contains("tmp"), {"not": {"contains": "tmp"}}),
    (
        "and",
        lambda: N.contains("a") & N.ne("ab"),
        {"all": [{"contains": "a"}, {"not_equals": "ab"}]},
    ),
    ("nor", lambda: ~(N.eq("a") | N.eq("b")), {"not_any": [{"equals": "a"}, {"equals": "b"}]}),
]


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
@pytest.mark.parametrize(("form", "make", "test"), RUN_FORMS, ids=[f[0] for f in RUN_FORMS])
def test_every_run_name_form_the_sdk_writes_round_trips_on_run_events(
    form: str, make: Callable[[], Any], test: Any
) -> None:
    name = make()
    state = RunEvent.state.in_(["failed"])
    metric = RunEvent.metric("loss") > 1
    for made, kind, params in (
        (
            OnRunState(scope=SCOPE, filter=state if name is None else name & state),
            "run_state",
            {"states": ["failed"]},
        ),
        (
            OnRunMetric(scope=SCOPE, filter=metric if name is None else name & metric),
            "run_metric",
            {"metric": "loss", "above": 1, "aggregate": None, "window": 1},
        ),
    ):
        sent = _sdk_filter(made)
        event = decode_event(str(made.event_type.value), sent)
        assert event == Event(kind, {**params, "run_name": test})
        assert _ours(event) == sent


# --- any YAML test: its canonical form is stable and means the same on the wire -----------

_NAMES = st.text(alphabet="abcé^$.*-_ 0", max_size=5)
_SCALARS = _NAMES | st.integers(-5, 5) | st.booleans()
_LEAF = st.one_of(
    st.builds(lambda v: {"equals": v}, _SCALARS | st.lists(_SCALARS, max_size=2)),
    st.builds(lambda v: {"not_equals": v}, _SCALARS),
    st.builds(lambda v: {"one_of": v}, st.lists(_SCALARS, max_size=3)),
    st.builds(lambda v: {"none_of": v}, st.lists(_SCALARS, max_size=3)),
    st.builds(lambda v: {"matches": v}, _NAMES),
    st.builds(lambda v: {"contains": v}, _NAMES),
    st.builds(lambda v: {"exists": v}, st.booleans()),
    st.builds(lambda v: {"above": v}, _NAMES | st.integers()),
    st.builds(lambda a, b: {"matches": a, "not_equals": b}, _NAMES, _NAMES),
    _NAMES.filter(bool),
)
_TESTS = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.builds(lambda v: {"all": v}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda v: {"any": v}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda v: {"not_any": v}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda v: {"not": v}, inner),
        st.builds(lambda a, b: {"contains": a, "any": b}, _NAMES, st.lists(inner, min_size=1)),
    ),
    max_leaves=8,
)


def _spelt_out(test: Any) -> Any:
    if isinstance(test, str):
        return {"matches": test}
    if isinstance(test, dict):
        return {k: _spelt_out(v) if k in filters.COMBINATORS else v for k, v in test.items()}
    return [_spelt_out(item) for item in test]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["alias", "tag", "run_name"]), test=_TESTS)
def test_a_canonical_test_is_stable_and_encodes_as_written(field: str, test: Any) -> None:
    if field == "run_name":  # a run name has no bare form
        test = _spelt_out(test)
    once = filters.canonical(field, test)
    assert filters.canonical(field, once) == once
    assert filters.encode(field, once) == filters.encode(field, test)


_SDK_LEAF = st.one_of(
    st.builds(A.eq, _SCALARS),
    st.builds(A.ne, _SCALARS),
    st.builds(A.in_, st.lists(_SCALARS, max_size=3)),
    st.builds(A.not_in, st.lists(_SCALARS, max_size=3)),
    st.builds(A.matches_regex, _NAMES),
    st.builds(A.contains, _NAMES),
    st.builds(A.exists, st.booleans()),
    st.builds(A.lt, _NAMES),
    st.builds(A.gte, st.integers(-3, 3)),
)
_SDK_FILTERS = st.recursive(
    _SDK_LEAF,
    lambda inner: st.one_of(
        st.builds(lambda a, b: a & b, inner, inner),
        st.builds(lambda a, b: a | b, inner, inner),
        st.builds(lambda a: ~a, inner),
    ),
    max_leaves=10,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(made=_SDK_FILTERS)
def test_any_filter_the_sdk_builds_round_trips_to_its_own_bytes(made: Any) -> None:
    sent = _sdk_filter(OnAddArtifactAlias(scope=SCOPE, filter=made))
    event = _read_back("ADD_ARTIFACT_ALIAS", sent)
    assert event.kind == "alias_added", event.params
    assert filters.canonical("alias", event.params["alias"]) == event.params["alias"]
    assert _ours(event) == sent


@pytest.mark.parametrize(
    ("value", "test"),
    [
        ({"$not": {"$regex": "^tmp"}}, {"not": "^tmp"}),
        ({"$regex": "^v", "$not": {"$eq": "v0"}}, {"all": ["^v", {"not": {"equals": "v0"}}]}),
        ("prod", {"equals": "prod"}),
        (["a", "b"], {"equals": ["a", "b"]}),
    ],
)
def test_mongo_shorthands_decode_to_the_test_they_mean(value: Any, test: Any) -> None:
    assert filters.decode("alias", [{"alias": value}]) == test


def test_a_field_level_not_of_something_else_than_a_test_is_not_expressible() -> None:
    with pytest.raises(filters.NotExpressible, match=r'^\$not of "x", not of a test$'):
        filters.decode("alias", [{"alias": {"$not": "x"}}])
