"""History lines checked without parsing: a line `Lines` vouches for always parses to a
JSON object (checked against `json.loads` on hostile and random text), the SDK's rows
are vouched for, and `holding` never misses a line holding a key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.server.clients.lines import Lines

SDK_ROW = '{"m1":0.5,"_timestamp":1.7965662058126988e+09,"_step":0,"m0":0,"_runtime":0.66}'


def _parses_to_object(line: str) -> bool:
    try:
        line.encode()
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError, UnicodeEncodeError):
        return False


def _vouched(lines: list[str]) -> list[int]:
    unchecked = set(Lines.of(lines).unchecked())
    return [index for index in range(len(lines)) if index not in unchecked]


@pytest.mark.parametrize(
    "line",
    [
        '{"a":01}',
        '{"a":1.}',
        '{"a":.5}',
        '{"a":+1}',
        '{"a":1e}',
        '{"a":tru}',
        '{"a":nan}',
        '{"a":\u0661}',  # an Arabic-Indic digit: `\\d` in Python's `re`, not JSON
        '{"a":1,}',
        "{,}",
        '{"a" 1}',
        '{"a\x01":1}',
        '{"a":"\x1f"}',
        '{"\ud800":1}',
        '{"a":' + "9" * 5000 + "}",  # past Python's limit on an integer's digits
        "[1]",
        '"x"',
        "",
        '{"a":1}\n{"b":2}',
        '{"a":{"b":{"c":{"d":1}}}}',  # deeper than recognised
        '{"a":"\\u0041"}',
    ],
)
def test_lines_json_loads_refuses_or_that_are_deep_are_left_to_it(line: str) -> None:
    assert _vouched([SDK_ROW, line, SDK_ROW]) == [0, 2]


def test_lines_that_only_parse_joined_are_each_left_to_the_parser() -> None:
    # Joined by newlines, each pair reads as one object; alone, each half is not JSON.
    split = ['{"a":1', "}", '{"a":"x', 'y"}', '{"a":[1', "2]}"]
    assert _vouched(split) == []
    assert _vouched(['{"a":1,', '"b":2}']) == []


def test_the_sdk_rows_and_plain_nested_rows_are_vouched_for() -> None:
    rows: list[dict[str, Any]] = [
        {"_step": 1, "val": {"loss": 0.5, "acc": [1, 2.5, None]}, "ok": True, "name": "é"},
        {"a": float("nan"), "b": float("inf"), "c": -float("inf"), "d": -0.0, "e": 10**99},
        {"h": {"_type": "histogram", "bins": [0, 1], "values": [3]}, "s": ""},
        {},
    ]
    lines = [SDK_ROW, *(json.dumps(row, ensure_ascii=False) for row in rows)]
    lines.append(json.dumps(rows[0], indent=1))
    assert _vouched(lines) == [0, 1, 2, 3, 4]  # the last holds newlines: left to the parser
    assert Lines.of(lines).unchecked() == [5]


def test_holding_finds_every_line_with_the_key_at_its_top_level() -> None:
    lines = ['{"loss":1}', '{"acc":1}', '{"a":"loss"}', '{"x":{"loss":2}}', '{"lossy":1}']
    lines += ['{"val.loss":1}', '{"acc":2,"loss":3}']
    post = Lines.of(lines)
    assert post.holding(["loss"]) == {0, 2, 3, 6}  # 2 and 3: harmless extras
    assert post.holding(["val", "val.loss", "nope"]) == {5}
    assert post.holding([]) == set()


_JSONISH = st.text(alphabet='{}[]":,-+.0123456789eEtrufalsnNIiy \t\r\n\\\x01é', max_size=40)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """A row as JSON text, then maybe cut, or with characters put in."""
    text = json.dumps(draw(st.dictionaries(st.text(max_size=4), _VALUES, max_size=4)))
    cut = draw(st.integers(0, len(text)))
    choice = draw(st.sampled_from(["whole", "cut", "insert"]))
    if choice == "cut":
        return text[:cut]
    if choice == "insert":
        return text[:cut] + draw(_JSONISH) + text[cut:]
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(_mutated() | _JSONISH, min_size=1, max_size=6))
def test_a_vouched_line_always_parses_to_an_object(lines: list[str]) -> None:
    for index in _vouched(lines):
        assert _parses_to_object(lines[index]), lines[index]


@settings(max_examples=200, deadline=None)
@given(st.lists(_mutated() | _JSONISH, min_size=1, max_size=6), st.text(max_size=4))
def test_holding_misses_no_vouched_line_holding_the_key(lines: list[str], key: str) -> None:
    found = Lines.of(lines).holding([key])
    for index in _vouched(lines):
        if key in json.loads(lines[index]):
            assert index in found
