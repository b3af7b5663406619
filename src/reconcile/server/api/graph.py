"""The executable schema: the SDL file plus resolvers, with parsing cached and limited.

Documents are parsed (at most `MAX_TOKENS` tokens) and validated once per distinct
query text, and kept in a cache bounded by the total size of their texts; a depth
limit and the cost check (cost.py) keep one request from fanning out without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import ValidationContext
from graphql.validation.rules.overlapping_fields_can_be_merged import (
    OverlappingFieldsCanBeMergedRule,
)

from reconcile.server.api import (
    cost,
    mutations,
    mutations_admin,
    mutations_registry,
    mutations_team,
    queries,
)

MAX_DEPTH = 15
MAX_QUERY_CHARS = 100_000
# The SDK's documents have about 250 tokens, reconcile's batch of 50 mutations 1,008.
MAX_TOKENS = 5_000
# Comparisons of same-named fields during validation (quadratic in repeats of one
# name): the SDK's documents need at most 178.
MAX_MERGE_CHECKS = 10_000
# Parsed documents take about 100 times their text's size in memory.
CACHE_CHARS = 256 * 1024
_CACHED_QUERY_CHARS = 32 * 1024


class _BoundedMergeCheck(OverlappingFieldsCanBeMergedRule):
    """graphql-core's rule, with a smaller budget of comparisons than its default."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = MAX_MERGE_CHECKS


_RULES = tuple(
    _BoundedMergeCheck if rule is OverlappingFieldsCanBeMergedRule else rule
    for rule in specified_rules
)


def load_schema(extra: Mapping[str, Mapping[str, Any]] | None = None) -> GraphQLSchema:
    """The SDL shipped with the package, with every resolver attached (and `extra`'s,
    the resolvers of the stages above: `server/clients/`)."""
    schema = build_schema((files("reconcile.server.api") / "schema.graphql").read_text())
    # A JSONString is a string on the wire: refuse objects and numbers as variables
    # (resolvers would receive them), as GraphQL's String does.
    json_string = schema.get_type("JSONString")
    if isinstance(json_string, GraphQLScalarType):
        json_string.parse_value = GraphQLString.parse_value  # type: ignore[method-assign]
    # An Int64 (artifact sizes, steps) is a whole number: refuse anything else.
    int64 = schema.get_type("Int64")
    if isinstance(int64, GraphQLScalarType):
        int64.parse_value = _int64  # type: ignore[method-assign]
        int64.parse_literal = _int64_literal  # type: ignore[method-assign,assignment]
    tables = (
        queries.RESOLVERS,
        mutations.RESOLVERS,
        mutations_team.RESOLVERS,
        mutations_registry.RESOLVERS,
        mutations_admin.RESOLVERS,
        extra or {},
    )
    for table in tables:
        for type_name, resolvers in table.items():
            owner = schema.get_type(type_name)
            if not isinstance(owner, GraphQLObjectType):
                raise TypeError(f"{type_name} is not an object type in the schema")
            for field_name, resolve in resolvers.items():
                counted = cost.UNPAGED.get((type_name, field_name))
                owner.fields[field_name].resolve = (
                    resolve if counted is None else cost.metered(resolve, counted)
                )
    return schema


def _int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise GraphQLError(f"Int64 cannot represent {str(value)[:40]}: a whole number is needed")
    return value


def _int64_literal(node: Any, _variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise GraphQLError("Int64 needs a whole number")
    return _int64(int(node.value))


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document, or the errors that prevent running it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)


class Documents:
    """Parses and validates query texts against the schema, remembering recent ones."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._cached_chars = 0
        self._lock = threading.Lock()

    @property
    def cached_chars(self) -> int:
        """The total length of the query texts in the cache."""
        return self._cached_chars

    def prepare(self, query: str) -> Prepared:
        with self._lock:
            found = self._cache.get(query)
            if found is not None:
                self._cache.move_to_end(query)
                return found
        prepared = self._prepare(query)
        if len(query) <= _CACHED_QUERY_CHARS:
            self._remember(query, prepared)
        return prepared

    def _remember(self, query: str, prepared: Prepared) -> None:
        with self._lock:
            if query in self._cache:
                return
            self._cache[query] = prepared
            self._cached_chars += len(query)
            while self._cached_chars > CACHE_CHARS:
                oldest, _ = self._cache.popitem(last=False)
                self._cached_chars -= len(oldest)

    def _prepare(self, query: str) -> Prepared:
        if len(query) > MAX_QUERY_CHARS:
            return Prepared(None, (GraphQLError(f"query longer than {MAX_QUERY_CHARS} chars"),))
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return Prepared(None, (error,))
        errors = validate(self.schema, document, _RULES, max_errors=20)
        if errors:
            return Prepared(None, tuple(_explained(e) for e in errors))
        deepest = query_depth(document)
        if deepest > MAX_DEPTH:
            message = f"query depth {deepest} exceeds the limit of {MAX_DEPTH}"
            return Prepared(None, (GraphQLError(message),))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return Prepared(document, (), fragments)


def _explained(error: GraphQLError) -> GraphQLError:
    if error.message == "Validation aborted.":
        # graphql-core's words for its comparison budget and for too deep a nesting
        return GraphQLError(
            f"query too complex to validate: more than {MAX_MERGE_CHECKS} comparisons "
            "of same-named fields, or nested too deeply"
        )
    return error


def query_depth(document: DocumentNode) -> int:
    """The deepest field nesting of any operation, with fragments expanded."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    known: dict[str, int] = {}
    return max((_depth(op.selection_set, fragments, known, ()) for op in operations), default=0)


def _depth(
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    known: dict[str, int],
    visiting: tuple[str, ...],
) -> int:
    """The depth below `selections`; `known` holds each fragment's depth once walked,
    so a fragment spread many times (or doubling at each level) is walked once."""
    if selections is None:
        return 0
    deepest = 0
    for node in selections.selections:
        inner: Any = 0
        if isinstance(node, FieldNode):
            inner = 1 + _depth(node.selection_set, fragments, known, visiting)
        elif isinstance(node, InlineFragmentNode):
            inner = _depth(node.selection_set, fragments, known, visiting)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            # Cycles are rejected by validation; the guard keeps this walk finite anyway.
            if name in known:
                inner = known[name]
            elif name in fragments and name not in visiting:
                selection = fragments[name].selection_set
                inner = known[name] = _depth(selection, fragments, known, (*visiting, name))
        deepest = max(deepest, inner)
    return deepest
