"""The shipped JSON Schema and its translation into actionable messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconcile.cli import cli
from reconcile.inventory import schema
from reconcile.inventory.loader import Document, discover, load_files
from reconcile.inventory.schema import (
    PATTERN_RULES,
    check,
    human_path,
    is_valid,
    schema_text,
    validator,
)
from tests.conftest import WriteFiles

REPO = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = [(path, node)]
    if isinstance(node, dict):
        for key, child in node.items():
            found.extend(_walk(child, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.extend(_walk(child, f"{path}/{index}"))
    return found


def test_packaged_schema_is_the_repository_schema() -> None:
    assert schema_text() == (REPO / "schema" / "inventory.schema.json").read_text("utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(schema_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description_and_every_record_is_closed() -> None:
    schema = json.loads(schema_text())
    for path, node in _walk(schema):
        if not isinstance(node, dict):
            continue
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}/properties/{name} has no description"
        if "properties" in node:  # the payload is the one free-form mapping
            assert node.get("additionalProperties") is False, f"{path} is open"


def test_every_pattern_has_a_readable_rule() -> None:
    patterns = {
        node["pattern"]
        for _, node in _walk(json.loads(schema_text()))
        if isinstance(node, dict) and isinstance(node.get("pattern"), str)
    }
    assert patterns <= set(PATTERN_RULES)


def test_an_empty_document_has_no_findings() -> None:
    assert check(Document("a.yaml", "", None)) == []


def test_every_error_is_found_not_just_the_first() -> None:
    data = {"entity": "ML", "secrets": [{"name": "A", "rotation": "1"}], "extra": 1}
    messages = sorted(f.message for f in check(Document("a.yaml", "", data)))
    assert messages == [
        "entity: 'ML' is not valid: a team name is lowercase letters, digits, '-' and '_'",
        "secrets[0].rotation: expected an integer, got '1'",
        "top level: unknown key 'extra'; expected one of: automations, entity, secrets, webhooks",
    ]


def test_booleans_are_not_numbers() -> None:
    auto = {
        "name": "a",
        "scope": {"project": "p"},
        "then": {"no_op": None},
        "when": {"run_metric": {"metric": "m", "above": True}},
    }
    [finding] = check(Document("a.yaml", "", {"entity": "e", "automations": [auto]}))
    assert finding.message == "automations[0].when.run_metric.above: expected a number, got true"


def test_human_path_reads_like_the_yaml() -> None:
    assert human_path(()) == "top level"
    assert human_path(("automations", 3, "when", "run_metric")) == "automations[3].when.run_metric"


def _mutations(node: Any) -> Iterator[Any]:
    """Copies of `node` with one change each: a key dropped or added, a value replaced."""
    if isinstance(node, dict):
        yield {**node, "zz_unknown": 1}
        for key, child in node.items():
            yield {k: v for k, v in node.items() if k != key}
            for changed in _mutations(child):
                yield {**node, key: changed}
    elif isinstance(node, list):
        yield []
        for index, child in enumerate(node):
            for changed in _mutations(child):
                yield [*node[:index], changed, *node[index + 1 :]]
    for other in (None, 0, -1, 0.5, "", "x y", True, [], {}):
        if other != node or type(other) is not type(node):
            yield other


def test_fast_validator_agrees_with_jsonschema_on_every_mutation() -> None:
    examples = Path(__file__).resolve().parents[2] / "automations" / "examples"
    documents, _ = load_files(discover([str(examples)]))
    checked = 0
    for document in documents:
        for mutated in _mutations(document.data):
            assert is_valid(mutated) == validator().is_valid(mutated), mutated
            checked += 1
    assert checked > 1000


def test_the_fast_validator_is_compiled_without_details() -> None:
    """Its yes or no is all that is used: spelling out each failing subschema in the
    generated code made it ten times larger, compiled at every start."""
    with pytest.raises(fastjsonschema.JsonSchemaValueException) as raised:
        schema._compiled()({"entity": "ML"})
    assert (raised.value.value, raised.value.definition, raised.value.rule) == (None, None, None)
    assert is_valid({"entity": "ml"}) is True
    assert is_valid({"entity": "ML"}) is False


def _validate(write_files: WriteFiles, text: str) -> tuple[int, list[str]]:
    write_files({"a.yaml": text})
    result = CliRunner().invoke(cli, ["validate"])
    return result.exit_code, result.output.splitlines()


def test_scope_keys_left_unindented_are_said_to_belong_under_it(write_files: WriteFiles) -> None:
    text = """
    entity: ml
    automations:
      - name: flat
        scope:
        project: p
        when: {run_state: {states: [failed]}}
        then: {no_op: }
    """
    assert _validate(write_files, text) == (
        1,
        [
            "automations/a.yaml:4:11: automations[0].scope: expected a mapping, but it is empty",
            "automations/a.yaml:5:5: automations[0]: unknown key 'project': it belongs under "
            "`scope:`, which is empty; indent it below it",
            "2 problems found",
        ],
    )


def test_a_payload_pasted_as_a_json_string_says_to_unquote_it(write_files: WriteFiles) -> None:
    text = """
    entity: ml
    webhooks:
      - name: hook
        url: https://example.com/hook
    automations:
      - name: json
        scope: {project: p}
        when: {run_state: {states: [failed]}}
        then:
          webhook:
            to: hook
            payload: '{"a": "${run_name}"}'
    """
    assert _validate(write_files, text) == (
        1,
        [
            "automations/a.yaml:12:18: automations[0].then.webhook.payload: expected a "
            "mapping, got JSON text in a string: remove the quotes around it (a JSON object is "
            "YAML too), or write its keys as YAML",
            "1 problem found",
        ],
    )


def test_did_you_mean_ignores_case(write_files: WriteFiles) -> None:
    text = """
    entity: ml
    webhooks:
      - name: hook
        url: https://example.com/hook
    automations:
      - name: cased
        scope: {project: p}
        when: {run_state: {states: [failed]}}
        then:
          webhook:
            to: hook
            payload: {a: "${EVENT_AUTHOR}", b: "${Run_Nmae}"}
    """
    assert _validate(write_files, text) == (
        1,
        [
            "automations/a.yaml:12:22: automations[0].then.webhook.payload.a: ${EVENT_AUTHOR} "
            "is not a secret granted to webhook 'hook' (did you mean 'event_author'?)",
            "automations/a.yaml:12:44: automations[0].then.webhook.payload.b: unknown variable "
            "${Run_Nmae} for run_state events (did you mean 'run_name'?); available: "
            "entity_name, event_author, event_type, project_name, run_id, run_name, run_state, "
            "run_url",
            "2 problems found",
        ],
    )


def test_an_event_without_its_when_says_it_belongs_under_it(write_files: WriteFiles) -> None:
    text = """
    entity: ml
    automations:
      - name: x
        scope: {project: p}
        run_state: {states: [failed]}
        then: {no_op: }
    """
    assert _validate(write_files, text) == (
        1,
        [
            "automations/a.yaml:3:5: automations[0]: missing required key 'when'",
            "automations/a.yaml:5:5: automations[0]: unknown key 'run_state': it belongs under "
            "`when:`, which is missing",
            "2 problems found",
        ],
    )
