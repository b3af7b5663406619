"""The static cost of a GraphQL operation, checked before it runs.

A field costs the number of values it can answer: once per parent value, and a list
field its page size (its `first`, the default page when absent) times that. Fields
the server reads from its database (those with a resolver) cost `READ_COST` per
value, since reading and shaping a row costs far more than answering a field of it.
Aliases count separately; fragments are expanded where they are spread. Lists
without pagination count a documented size, and any excess is charged as they are
read (`Meter`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from reconcile.server.errors import ApiError

# The budget: four pages of 1,000 automations with every field the SDK selects, or
# seven with ids alone. The SDK's and reconcile's documents cost under a quarter of it.
MAX_COST = 500_000
# What one value read from the database costs, in answered fields: reading and shaping
# a row takes about as long as executing and encoding 60 fields (bench/README.md).
READ_COST = 60
MAX_FIELDS = 2_000  # field selections after expanding fragments
MAX_ALIASES = 200  # reconcile batches 50 aliased mutations
DEFAULT_PAGE = 50
MAX_PAGE = 1000

# Lists without `first`: the size counted for them (the server charges any excess).
UNPAGED: dict[tuple[str, str], int] = {
    ("Project", "triggers"): 10,
    ("Entity", "members"): 100,
    ("Entity", "secrets"): 100,
    ("User", "organizations"): 20,
    ("User", "teams"): 20,
    ("User", "apiKeys"): 0,  # never listed
    # A collection's tags (at most MAX_COLLECTION_TAGS, server/clients/collections.py).
    ("ArtifactPortfolio", "tags"): 50,
    ("ArtifactSequence", "tags"): 50,
    ("ArtifactCollection", "tags"): 50,
    # A registry's members (users counted at 100, teams at 10), any more charged as read.
    ("Project", "members"): 100,
    ("Project", "teamMembers"): 10,
    ("CreateArtifactCollectionTagAssignmentsPayload", "tags"): 50,
    ("ServerInfo", "features"): 15,  # present.FEATURES
    ("Organization", "featureFlags"): 1,  # automation_entity_scope
    # Runs (`server/clients/`): the files of one createRunFiles request (at most 1,000),
    # a run's history rows (the SDK's default 500 samples), lists not kept.
    ("CreateRunFilesPayload", "files"): 1000,
    ("CreateRunFilesPayload", "uploadHeaders"): 0,
    ("Run", "history"): 500,
    ("Run", "events"): 0,
    # Artifact versions (`server/clients/artifacts_*`): a version's aliases and tags (a
    # write adds at most 100 of each), the files of one request (at most 1,000).
    ("Artifact", "tags"): 100,
    ("Artifact", "aliases"): 100,
    ("Artifact", "filesByManifestEntries"): 1000,
    ("ArtifactCollectionMembership", "aliases"): 100,
    ("CreateArtifactFilesPayload", "files"): 1000,
    ("File", "uploadHeaders"): 0,
    ("UploadMultipartUrls", "uploadUrlParts"): 0,  # never produced: no multipart uploads
    ("Run", "tags"): 100,  # clients/runs.MAX_TAGS
    ("Run", "sampledHistory"): 10,  # one list of rows per spec
    ("ParquetHistory", "parquetUrls"): 0,  # history is never exported: always empty
    ("ParquetHistory", "liveData"): 0,
    # The instance admin's listing of API keys (`mutations_admin.py`).
    ("Query", "instanceApiKeys"): 100,
}
# A bound on the walk itself: fragments spread within fragments can expand a short
# text exponentially; the walk stops at the first limit it crosses.
_MAX_STEPS = 4 * MAX_FIELDS


class TooExpensive(ApiError):
    """The operation would exceed a documented limit; nothing of it ran."""

    code = "QUERY_TOO_EXPENSIVE"
    status = 400


def page_size(first: object) -> int:
    """The page a paginated field answers for `first` (negative ones are refused later).

    Absent or null is the default page; a value that is not an integer counts as the
    largest page (execution refuses it, or coerces it, as for `1000.0`).
    """
    if first is None:
        return DEFAULT_PAGE
    if not isinstance(first, int) or isinstance(first, bool):
        return MAX_PAGE
    return max(0, min(first, MAX_PAGE))


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    cost: int = 0
    fields: int = 0
    aliases: int = 0
    steps: int = 0


def operation_cost(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
) -> int:
    """The operation's cost; `TooExpensive` at the first limit it crosses."""
    values = dict(variables or {})
    for definition in operation.variable_definitions:
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    root = schema.get_root_type(operation.operation)
    walk = _Walk(schema, fragments, values)
    if root is not None:
        _selections(walk, operation.selection_set, root, 1)
    return walk.cost


def item_cost(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    nodes: list[FieldNode],
    item_type: GraphQLNamedType,
    variables: dict[str, Any],
) -> int:
    """What one more item of a list costs: the sub-selections of its field nodes."""
    walk = _Walk(schema, fragments, variables)
    for node in nodes:
        _selections(walk, node.selection_set, item_type, 1)
    return walk.cost


def _selections(
    walk: _Walk, selections: SelectionSetNode | None, parent: GraphQLNamedType, times: int
) -> None:
    if selections is None:
        return
    for node in selections.selections:
        walk.steps += 1
        if walk.steps > _MAX_STEPS:
            raise TooExpensive(f"query expands to more than {_MAX_STEPS} selections")
        if isinstance(node, FieldNode):
            _field(walk, node, parent, times)
        elif isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            inner = walk.schema.get_type(condition.name.value) if condition else parent
            _selections(walk, node.selection_set, inner or parent, times)
        elif isinstance(node, FragmentSpreadNode):
            fragment = walk.fragments.get(node.name.value)
            if fragment is not None:
                inner = walk.schema.get_type(fragment.type_condition.name.value)
                _selections(walk, fragment.selection_set, inner or parent, times)


def _field(walk: _Walk, node: FieldNode, parent: GraphQLNamedType, times: int) -> None:
    walk.fields += 1
    if walk.fields > MAX_FIELDS:
        raise TooExpensive(f"query selects more than {MAX_FIELDS} fields (fragments expanded)")
    if node.alias is not None and node.alias.value != node.name.value:
        walk.aliases += 1
        if walk.aliases > MAX_ALIASES:
            raise TooExpensive(f"query has more than {MAX_ALIASES} aliases")
    definition = _definition(walk.schema, parent, node.name.value)
    count, each = times, 1
    if definition is not None:
        count = times * _items(walk, parent, node, definition)
        child = get_named_type(definition.type)
        if definition.resolve is not None and not parent.name.startswith("__"):
            each = READ_COST  # introspection resolves from memory
    walk.cost += count * each
    if walk.cost > MAX_COST:
        raise TooExpensive(
            f"query cost exceeds the budget of {MAX_COST} (each field counts once per "
            "value it can answer; list fields count their page size)"
        )
    if definition is not None and node.selection_set is not None:
        _selections(walk, node.selection_set, child, count)


def _items(walk: _Walk, parent: GraphQLNamedType, node: FieldNode, field: GraphQLField) -> int:
    """How many values the field can answer per parent: 1, or a list's page size."""
    unpaged = UNPAGED.get((parent.name, node.name.value))
    if unpaged is not None:
        return unpaged
    if "first" in field.args:
        return page_size(_argument(walk, node, "first"))
    if not isinstance(get_nullable_type(field.type), GraphQLList):  # type: ignore[arg-type]
        return 1
    if parent.name.startswith("__"):
        return _introspection_size(walk.schema, node.name.value)
    # The edges of a connection were counted at the connection's page size.
    return 1


def _introspection_size(schema: GraphQLSchema, name: str) -> int:
    """The longest list of this name that introspection of `schema` can answer."""
    types = list(schema.type_map.values())
    if name == "types":
        return len(types)
    if name == "directives":
        return len(schema.directives)
    if name == "possibleTypes":
        abstract = [t for t in types if is_abstract_type(t)]
        return max((len(schema.get_possible_types(t)) for t in abstract), default=0)  # type: ignore[arg-type]
    attribute = {"enumValues": "values", "inputFields": "fields"}.get(name, name)
    lengths = [len(getattr(t, attribute, None) or ()) for t in types]
    if name == "args":
        fields = [f for t in types for f in (getattr(t, "fields", None) or {}).values()]
        lengths = [len(getattr(f, "args", ())) for f in fields]
        lengths += [len(d.args) for d in schema.directives]
    return max(lengths, default=0)


def _argument(walk: _Walk, node: FieldNode, name: str) -> object:
    for argument in node.arguments:
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            return walk.variables.get(value.name.value)
    return None


def _definition(schema: GraphQLSchema, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef
    fields: dict[str, GraphQLField] = getattr(parent, "fields", None) or {}
    return fields.get(name)


class Meter:
    """A request's cost so far; lists without pagination add what they answer beyond
    their counted size, so no answer outgrows the budget whatever the data."""

    def __init__(self, spent: int = 0) -> None:
        self.spent = spent
        self._each: dict[tuple[int, ...], int] = {}

    def charge(self, extra: int) -> None:
        self.spent += extra
        self.check()

    def check(self) -> None:
        if self.spent > MAX_COST:
            self.refuse()

    def refuse(self) -> NoReturn:
        """Refuse a list without pagination that is longer than the budget can take."""
        raise TooExpensive(
            f"query cost exceeds the budget of {MAX_COST}: a list without pagination "
            "is longer than the size counted for it; ask for fewer fields or use a "
            "paginated field"
        )

    def each(self, info: GraphQLResolveInfo) -> int:
        """What one item of the list `info` resolves costs (once per selection)."""
        key = tuple(map(id, info.field_nodes))
        found = self._each.get(key)
        if found is None:
            item = get_named_type(info.return_type)
            found = READ_COST + item_cost(
                info.schema, info.fragments, info.field_nodes, item, info.variable_values
            )
            self._each[key] = found
        return found


def metered(resolve: Callable[..., Any], counted: int) -> Callable[..., Any]:
    """`resolve` (a list field's resolver), charging items beyond `counted` to the meter.

    A resolver with a `limit` parameter is asked for one item more than the budget
    can take, so an over-long list is refused without being read whole."""
    limited = "limit" in inspect.signature(resolve).parameters

    def run(parent: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        meter: Meter = info.context.meter
        meter.check()  # once over, the remaining lists are not even read
        if limited:
            affordable = counted + (MAX_COST - meter.spent) // meter.each(info)
            arguments["limit"] = affordable + 1
        items = resolve(parent, info, **arguments)
        if len(items) > counted:
            meter.charge((len(items) - counted) * meter.each(info))
        return items

    return run
