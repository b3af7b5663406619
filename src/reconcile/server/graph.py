"""The executable schema: the SDL file plus resolvers, with parsing cached and limited.

Documents are parsed and validated once per distinct query text; a depth limit keeps
one request from fanning out without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
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
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
    validate,
)

from reconcile.server import mutations, mutations_team, queries

MAX_DEPTH = 15
MAX_QUERY_CHARS = 100_000
_CACHE_SIZE = 256


def load_schema() -> GraphQLSchema:
    """The SDL shipped with the package, with every resolver attached."""
    schema = build_schema((files("reconcile.server") / "schema.graphql").read_text())
    # A JSONString is a string on the wire: refuse objects and numbers as variables
    # (resolvers would receive them), as GraphQL's String does.
    json_string = schema.get_type("JSONString")
    if isinstance(json_string, GraphQLScalarType):
        json_string.parse_value = GraphQLString.parse_value  # type: ignore[method-assign]
    for table in (queries.RESOLVERS, mutations.RESOLVERS, mutations_team.RESOLVERS):
        for type_name, resolvers in table.items():
            owner = schema.get_type(type_name)
            if not isinstance(owner, GraphQLObjectType):
                raise TypeError(f"{type_name} is not an object type in the schema")
            for field_name, resolve in resolvers.items():
                owner.fields[field_name].resolve = resolve
    return schema


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document, or the errors that prevent running it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()


class Documents:
    """Parses and validates query texts against the schema, remembering recent ones."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, query: str) -> Prepared:
        with self._lock:
            found = self._cache.get(query)
            if found is not None:
                self._cache.move_to_end(query)
                return found
        prepared = self._prepare(query)
        with self._lock:
            self._cache[query] = prepared
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        if len(query) > MAX_QUERY_CHARS:
            return Prepared(None, (GraphQLError(f"query longer than {MAX_QUERY_CHARS} chars"),))
        try:
            document = parse(query)
        except GraphQLError as error:
            return Prepared(None, (error,))
        errors = validate(self.schema, document, max_errors=20)
        if errors:
            return Prepared(None, tuple(errors))
        deepest = query_depth(document)
        if deepest > MAX_DEPTH:
            message = f"query depth {deepest} exceeds the limit of {MAX_DEPTH}"
            return Prepared(None, (GraphQLError(message),))
        return Prepared(document)


def query_depth(document: DocumentNode) -> int:
    """The deepest field nesting of any operation, with fragments expanded."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((_depth(op.selection_set, fragments, ()) for op in operations), default=0)


def _depth(
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: tuple[str, ...],
) -> int:
    if selections is None:
        return 0
    deepest = 0
    for node in selections.selections:
        inner: Any = 0
        if isinstance(node, FieldNode):
            inner = 1 + _depth(node.selection_set, fragments, visiting)
        elif isinstance(node, InlineFragmentNode):
            inner = _depth(node.selection_set, fragments, visiting)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            # Cycles are rejected by validation; the guard keeps this walk finite anyway.
            if name in fragments and name not in visiting:
                inner = _depth(fragments[name].selection_set, fragments, (*visiting, name))
        deepest = max(deepest, inner)
    return deepest
