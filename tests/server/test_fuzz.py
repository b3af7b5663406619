"""Random and hostile variables for every operation of the schema: never a 5xx (S10).

Each root field of `schema.graphql` becomes one operation that selects its answer a
few levels deep and takes every argument, nested ones included, as a variable. The
variables mix plausible values (real ids and names of the test team) with hostile
ones: wrong types, huge numbers, NaN, lone surrogates, control characters, deep and
malformed JSON, unknown input fields, ids of every spelling. The run is derandomized
and bounded, so it is the same every time.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_abstract_type,
    is_enum_type,
    is_input_object_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.helpers import World, basic, webhook

SCHEMA: GraphQLSchema = build_schema(
    (files("reconcile.server.api") / "schema.graphql").read_text("utf-8")
)
SELECT_DEPTH = 3
# Requests per test: every operation gets about twenty.
EXAMPLES = 300


@dataclass
class Operation:
    """One root field as a document, with the input type of each variable."""

    text: str = ""
    variables: dict[str, GraphQLInputType] = field(default_factory=dict)


def _arguments(op: Operation, args: dict[str, GraphQLArgument]) -> str:
    if not args:
        return ""
    given = []
    for name, arg in args.items():
        variable = f"v{len(op.variables)}"
        op.variables[variable] = arg.type
        given.append(f"{name}: ${variable}")
    return "(" + ", ".join(given) + ")"


def _selection(op: Operation, kind: GraphQLNamedType, depth: int) -> str:
    if is_abstract_type(kind):
        parts = ["__typename"]
        for possible in SCHEMA.get_possible_types(kind):  # type: ignore[arg-type]
            inner = _selection(op, possible, depth)
            parts.append(f"... on {possible.name} {inner}")
        return "{ " + " ".join(parts) + " }"
    assert isinstance(kind, GraphQLObjectType)
    parts = ["__typename"]
    for name, child in kind.fields.items():
        parts.extend(_field(op, name, child, depth))
    return "{ " + " ".join(parts) + " }"


def _field(op: Operation, name: str, child: GraphQLField, depth: int) -> list[str]:
    target = get_named_type(child.type)
    if is_leaf_type(target):
        return [name + _arguments(op, child.args)]
    if depth >= SELECT_DEPTH:
        return []
    return [name + _arguments(op, child.args) + " " + _selection(op, target, depth + 1)]


def _operation(root: str, name: str) -> Operation:
    owner = SCHEMA.get_type(root)
    assert isinstance(owner, GraphQLObjectType)
    op = Operation()
    selected = "".join(_field(op, name, owner.fields[name], 1))
    declared = ", ".join(f"${v}: {t}" for v, t in op.variables.items())
    keyword = "query" if root == "Query" else "mutation"
    op.text = f"{keyword} Fuzz{('(' + declared + ')') if declared else ''} {{ {selected} }}"
    return op


OPERATIONS = {
    f"{root}.{name}": _operation(root, name)
    for root in ("Query", "Mutation")
    for name in SCHEMA.get_type(root).fields  # type: ignore[union-attr]
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\nb",
        "x\x85y",
        "\x7f",
        "\u202eevil",
        "\ud800",
        "a\udfffb",
        "wandb-registry-",
        "WANDB-REGISTRY-x",
        "NaN",
        "x" * 70_000,
        "{}",
        "[]",
        "null",
        '{"a": NaN}',
        '{"x": Infinity}',
        "1e999",
        '{"$regex": "("}',
        '{"$bogus": 1}',
        "[" * 3000 + "]" * 3000,
        '{"a":' * 40 + "1" + "}" * 40,
        '{"name": {"$eq": 5}}',
        '{"name": []}',
        '{"run_state_filter": []}',
        '{"run_state_filter": {"states": [[1], {"a": 1}]}}',
        '{"run_filter": "{\\"$x\\": 1}"}',
        '{"run_filter": 5}',
        '{"run_metric_filter": {"threshold_filter": {"name": ""}}}',
        '"\\ud800"',
        "http://user:pw@h.example/",
        "https://h.example:99999/",
        "https://h.example:0/",
        "https://h.example/\r\nX: y",
        "ftp://h.example/",
        "#general",
    ]
)
ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
NUMBERS = st.sampled_from(["1", "2", "0", "01", " 1", "1_0", "-1", "\u0661", str(2**63), "x"])
KINDS = st.sampled_from(
    ["Project", "ArtifactCollection", "Entity", "Integration", "Trigger", "cursor", "User", ""]
)


def _ids(world: World, extra: list[str]) -> st.SearchStrategy[str]:
    real = [
        world.project_id,
        world.registry_id,
        world.collection_id,
        world.registry_collection_id,
        *extra,
    ]
    made = st.builds(lambda k, n: _b64(f"{k}:{n}"), KINDS, NUMBERS)
    return st.sampled_from(real) | made | st.sampled_from(["", "!!!", "UHJvamVjdDox=", "YQ"])


def _strings(world: World) -> st.SearchStrategy[str]:
    names = ["acme", "other", "vision", "wandb-registry-models", "detector", "model", "S", "deploy"]
    return st.sampled_from(names) | HOSTILE_TEXT | st.text(max_size=30)


@dataclass(frozen=True)
class Values:
    """Strategies for the values of each kind of input, for one populated team."""

    ids: st.SearchStrategy[str]
    strings: st.SearchStrategy[str]

    def of(self, kind: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
        wrong = ANYTHING | HOSTILE_TEXT
        if is_non_null_type(kind):
            return self.of(kind.of_type, depth) | st.just(None)  # type: ignore[attr-defined]
        if is_list_type(kind):
            item = self.of(kind.of_type, depth + 1)  # type: ignore[attr-defined]
            return st.none() | st.lists(item, max_size=3) | wrong
        named = get_named_type(kind)
        if is_input_object_type(named) and depth < 4:
            return st.none() | self._object(named, depth) | wrong  # type: ignore[arg-type]
        if is_enum_type(named):
            assert isinstance(named, GraphQLEnumType)
            return st.none() | st.sampled_from(sorted(named.values)) | wrong
        return st.none() | self._scalar(named.name) | wrong

    def _scalar(self, name: str) -> st.SearchStrategy[Any]:
        if name == "ID":
            return self.ids
        if name == "Int":
            return st.integers(min_value=-5, max_value=2000) | st.integers()
        if name == "Boolean":
            return st.booleans()
        if name == "JSONString":
            filters = ['{"alias": {"$regex": "^prod$"}}', '{"name": "promote"}', "{}"]
            return st.sampled_from(filters) | self.strings
        return self.strings

    def _object(self, kind: GraphQLInputObjectType, depth: int) -> st.SearchStrategy[Any]:
        fields = {name: self.of(f.type, depth + 1) for name, f in kind.fields.items()}
        required = {n: s for n, s in fields.items() if is_non_null_type(kind.fields[n].type)}
        optional = {n: s for n, s in fields.items() if n not in required}
        made = st.fixed_dictionaries(required, optional=optional)
        unknown = st.dictionaries(st.sampled_from(["bogus", "__proto__", "id "]), ANYTHING)
        return made | st.builds(lambda a, b: {**a, **b}, made, unknown)


def _post(world: World, key: str | None, text: str, variables: dict[str, Any]) -> Any:
    # json.dumps writes NaN and Infinity, and escapes lone surrogates: hostile on purpose.
    body = json.dumps({"query": text, "variables": variables, "operationName": "Fuzz"})
    headers = {"content-type": "application/json", **(basic(key) if key else {})}
    return world.client.post("/graphql", content=body.encode(), headers=headers)


def _check(response: Any, variables: dict[str, Any]) -> None:
    assert response.status_code < 500, (variables, response.text)
    codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
    assert "INTERNAL" not in codes, (variables, response.text)


FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_no_operation_answers_5xx(world: World) -> None:
    hook_id = webhook(world.admin)
    values = Values(_ids(world, [hook_id]), _strings(world))
    callers = [world.admin.key, world.admin.key, world.member.key, world.outsider.key, None]
    strategies = {
        name: st.fixed_dictionaries({v: values.of(t) for v, t in op.variables.items()})
        for name, op in OPERATIONS.items()
    }

    @FUZZ
    @given(name=st.sampled_from(sorted(OPERATIONS)), key=st.sampled_from(callers), data=st.data())
    def check(name: str, key: str | None, data: Any) -> None:
        variables = data.draw(strategies[name])
        _check(_post(world, key, OPERATIONS[name].text, variables), variables)

    check()


def test_every_operation_is_exercised() -> None:
    """The schema is read, not listed by hand: a new operation is fuzzed too."""
    # 17, the artifact operations of the SDK (server/clients/artifacts_*), 12 of registry
    # and collection management, 9 of instance administration (3 of them removing
    # members, deleting users and connecting Slack)
    assert len(OPERATIONS) == 51
    assert all(op.text.startswith(("query Fuzz", "mutation Fuzz")) for op in OPERATIONS.values())
    assert len(OPERATIONS["Mutation.createFilterTrigger"].variables) == 1
    assert len(OPERATIONS["Query.entity"].variables) >= 5


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indices that lead to it."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*at, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*at, index)))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)  # type: ignore[call-overload]
    return copy


def _valid_inputs(world: World, hook_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Inputs that succeed as they are: one field made hostile reaches deep checks."""
    action = {"genericWebhookActionInput": {"integrationID": hook_id, "requestPayload": "{}"}}
    run_state = '{"run_state_filter": {"states": ["FAILED"]}, "run_filter": "{}"}'
    return [
        (
            "Mutation.createFilterTrigger",
            {
                "name": "t",
                "description": "d",
                "enabled": True,
                "scopeType": "PROJECT",
                "scopeID": world.project_id,
                "triggeringEventType": "RUN_STATE",
                "eventFilter": run_state,
                "triggeredActionType": "GENERIC_WEBHOOK",
                "triggeredActionConfig": action,
            },
        ),
        (
            "Mutation.createGenericWebhookIntegration",
            {"entityName": "acme", "name": "h", "urlEndpoint": "https://h.example/"},
        ),
        ("Mutation.insertSecret", {"entityName": "acme", "secretName": "S", "secretValue": "v"}),
        ("Mutation.upsertModel", {"entityName": "acme", "name": "p", "description": "d"}),
        (
            "Mutation.upsertBucket",
            {"name": "r1", "modelName": "vision", "entityName": "acme", "config": '{"a": 1}'},
        ),
        (
            "Mutation.createRunFiles",
            {"entityName": "acme", "projectName": "vision", "runName": "r1", "files": ["a"]},
        ),
    ]


def test_valid_inputs_with_one_hostile_part(world: World) -> None:
    hook_id = webhook(world.admin)
    cases = [(name, base, _paths(base)) for name, base in _valid_inputs(world, hook_id)]

    @FUZZ
    @given(case=st.sampled_from(cases), data=st.data(), new=ANYTHING | HOSTILE_TEXT)
    def check(case: tuple[str, dict[str, Any], list[Any]], data: Any, new: Any) -> None:
        name, base, paths = case
        path = data.draw(st.sampled_from(paths[1:]))
        variables = {"v0": _replace(base, path, new)}
        _check(_post(world, world.admin.key, OPERATIONS[name].text, variables), variables)

    check()
