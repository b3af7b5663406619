"""Events in: the parser and schema/event.schema.json accept and refuse the same events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconcile.runtime.incoming import MAX_METADATA_BYTES, InvalidEvents, loads, parse_document

SCHEMA = json.loads((Path(__file__).parents[2] / "schema" / "event.schema.json").read_text())
ALIAS = {
    "type": "alias_added",
    "entity": "ml",
    "registry": "model",
    "collection": "fraud",
    "artifact": {"type": "model", "version": 3, "metadata": {"acc": 0.9}},
    "alias": "production",
}
LOGGED = {
    "type": "run_logged",
    "entity": "ml",
    "project": "p",
    "run": {"id": "1x2y"},
    "step": 7,
    "metrics": {"val_loss": 0.04, "epoch": 3},
}
VALID: list[Any] = [
    ALIAS,
    LOGGED,
    {"events": [ALIAS, LOGGED]},
    {
        "type": "run_state",
        "entity": "ml",
        "project": "p",
        "run": {"id": "r", "name": "n"},
        "state": "crashed",
    },
    {
        "type": "tag_added",
        "entity": "ml",
        "project": "p",
        "collection": "c",
        "artifact": {"version": 0},
        "tag": "gold",
        "id": "e-1",
        "author": "ann",
    },
    {
        "type": "artifact_linked",
        "entity": "ml",
        "registry": "model",
        "collection": "c",
        "artifact": {"version": 1},
    },
    {
        "type": "artifact_created",
        "entity": "ml",
        "project": "p",
        "collection": "c",
        "artifact": {"version": 1},
    },
]
# Each invalid case and the one problem the parser names for it.
INVALID: list[tuple[Any, str]] = [
    (
        {**ALIAS, "type": "alias_removed"},
        "events[0].type: must be one of artifact_created, artifact_linked, artifact_unlinked, "
        "alias_added, tag_added, tag_removed, collection_tag_added, collection_tag_removed, "
        'run_logged, run_state (got "alias_removed")',
    ),
    (
        {k: v for k, v in ALIAS.items() if k != "alias"},
        "events[0].alias: required for alias_added events",
    ),
    ({**ALIAS, "project": "p"}, "events[0].project: give exactly one of 'project' and 'registry'"),
    (
        {**ALIAS, "tag": "gold"},
        "events[0].tag: unknown key for alias_added events (only for tag_added, tag_removed, "
        "collection_tag_added, collection_tag_removed events)",
    ),
    (
        {**ALIAS, "artifact": {"version": "3"}},
        'events[0].artifact.version: must be a whole number >= 0 (got "3")',
    ),
    (
        {**ALIAS, "artifact": {"version": -1}},
        "events[0].artifact.version: must be a whole number >= 0 (got -1)",
    ),
    (
        {**ALIAS, "artifact": {"version": True}},
        "events[0].artifact.version: must be a whole number >= 0 (got true)",
    ),
    (
        {**ALIAS, "entity": ""},
        "events[0].entity: must be a non-empty string of at most 1024 characters",
    ),
    (
        {**LOGGED, "metrics": {"loss": "0.1"}},
        'events[0].metrics.loss: must be a finite number (got "0.1")',
    ),
    (
        {**LOGGED, "metrics": {"loss": True}},
        "events[0].metrics.loss: must be a finite number (got true)",
    ),
    (
        {**LOGGED, "run": {"name": "n"}},
        "events[0].run.id: must be a non-empty string of at most 1024 characters",
    ),
    (
        {**LOGGED, "state": "failed"},
        "events[0].state: unknown key for run_logged events (only for run_state events)",
    ),
    (
        {"events": [LOGGED, {**LOGGED, "step": 1.5}]},
        "events[1].step: must be a whole number >= 0 (got 1.5)",
    ),
    ({"events": []}, "events[0]: 'events' must be a list of 1 to 1000 events"),
    ({"events": [LOGGED] * 1001}, "events[0]: 'events' must be a list of 1 to 1000 events"),
    ([LOGGED], "events[0]: an event must be a JSON object"),
]


@pytest.mark.parametrize("document", VALID)
def test_valid_events_pass_parser_and_schema(document: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    events = parse_document(document)
    batch = document.get("events", [document])
    assert [e.type for e in events] == [raw["type"] for raw in batch]
    assert [e.as_json() for e in events] == [
        {**raw, "run": {"id": raw["run"]["id"], "name": raw["run"].get("name", raw["run"]["id"])}}
        if "run" in raw
        else {**raw, "artifact": {"type": "model", **raw["artifact"]}}
        for raw in batch
    ]


@pytest.mark.parametrize(("document", "message"), INVALID)
def test_invalid_events_are_refused_by_both_naming_index_and_field(
    document: Any, message: str
) -> None:
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(document)
    with pytest.raises(InvalidEvents) as raised:
        parse_document(document)
    assert str(raised.value) == message


def test_every_problem_of_a_batch_is_reported() -> None:
    bad = {"events": [{**ALIAS, "alias": 5}, LOGGED, {**LOGGED, "metrics": {"a": None}, "run": 3}]}
    with pytest.raises(InvalidEvents) as raised:
        parse_document(bad)
    assert [str(p) for p in raised.value.problems] == [
        "events[0].alias: must be a non-empty string of at most 1024 characters",
        "events[2].metrics.a: must be a finite number (got nothing)",
        'events[2].run: must be an object like {"id": "1x2y3z", "name": "sweep-7"}',
    ]


def test_registry_is_the_wandb_registry_project() -> None:
    (event,) = parse_document(ALIAS)
    assert (event.project, event.registry, event.where) == (
        "wandb-registry-model",
        "model",
        "registry model",
    )
    assert event.artifact is not None
    assert (event.artifact.version, dict(event.artifact.metadata)) == (3, {"acc": 0.9})


def test_json_text_without_nan_and_lone_surrogates() -> None:
    with pytest.raises(InvalidEvents, match="NaN is not a JSON number"):
        loads('{"a": NaN}')
    text = json.dumps({**LOGGED, "run": {"id": "\ud800"}})
    with pytest.raises(InvalidEvents, match=r"events\[0\].run.id: holds a lone surrogate"):
        parse_document(loads(text))
    metadata = json.dumps({**ALIAS, "artifact": {"version": 1, "metadata": {"k": ["\udfff"]}}})
    with pytest.raises(InvalidEvents, match=r"events\[0\].artifact.metadata: holds a lone"):
        parse_document(loads(metadata))


def test_values_parsed_elsewhere_are_checked_for_finite_numbers_too() -> None:
    with pytest.raises(InvalidEvents) as raised:
        parse_document({**LOGGED, "metrics": {"loss": float("inf"), "acc": float("nan")}})
    assert [str(p) for p in raised.value.problems] == [
        "events[0].metrics.acc: must be a finite number (got NaN)",
        "events[0].metrics.loss: must be a finite number (got Infinity)",
    ]
    meta = {**ALIAS, "artifact": {"version": 1, "metadata": {"x": [float("-inf")]}}}
    with pytest.raises(InvalidEvents, match="holds a number JSON cannot carry"):
        parse_document(meta)


def test_the_schema_is_valid_and_describes_every_key() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    undescribed: list[str] = []
    stack: list[tuple[str, Any]] = [("", SCHEMA)]
    while stack:
        where, node = stack.pop()
        for name, child in node.get("properties", {}).items():
            if "description" not in child:
                undescribed.append(f"{where}.{name}")
            stack.append((f"{where}.{name}", child))
        stack.extend((f"{where}/{k}", v) for k, v in node.get("$defs", {}).items())
    assert undescribed == []


def _nested(levels: int) -> dict[str, Any]:
    """Metadata nesting `levels` objects and arrays, the metadata object included."""
    value: Any = 1
    for level in range(levels - 1):
        value = {"k": value} if level % 2 else [value]
    return {"deep": value}


def test_metadata_nests_at_most_32_levels() -> None:
    (event,) = parse_document({**ALIAS, "artifact": {"version": 1, "metadata": _nested(32)}})
    assert event.artifact is not None
    assert event.artifact.metadata == _nested(32)
    for levels in (33, 985):
        with pytest.raises(InvalidEvents) as raised:
            parse_document({**ALIAS, "artifact": {"version": 1, "metadata": _nested(levels)}})
        assert str(raised.value) == (
            "events[0].artifact.metadata: nests deeper than 32 levels of objects and arrays"
        )


def test_metadata_holds_at_most_64_kib_of_json() -> None:
    # {"v":"..."} is 8 bytes around the value; "é" is 2 bytes of UTF-8.
    fits = {"v": "é" * ((MAX_METADATA_BYTES - 8) // 2)}
    assert len(json.dumps(fits, ensure_ascii=False, separators=(",", ":")).encode()) == (
        MAX_METADATA_BYTES
    )
    parse_document({**ALIAS, "artifact": {"version": 1, "metadata": fits}})
    over = {"v": fits["v"] + "a"}
    with pytest.raises(InvalidEvents) as raised:
        parse_document({**ALIAS, "artifact": {"version": 1, "metadata": over}})
    assert str(raised.value) == (
        f"events[0].artifact.metadata: is {MAX_METADATA_BYTES + 1} bytes of JSON; "
        f"the limit is {MAX_METADATA_BYTES}"
    )
