"""A faster graphql-core executor for answers built as plain dictionaries.

Resolvers here return fully shaped dicts, so below them every field is read with the
default resolver. For those, graphql-core builds a path, a ResolveInfo and an argument
map per field, which costs more than the read; this executor reads them straight from
the dict. Anything else (a resolver, arguments, an unexpected value, an error) takes
graphql-core's own path, so answers and errors are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    ExecutionContext,
    FieldNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLID,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_scalar_type,
)
from graphql.pyutils import AwaitableOrValue, Path, Undefined

LEAF, OBJECT, LIST, TYPENAME = 1, 2, 3, 4


class _Slow(Exception):
    """This value needs graphql-core's full completion."""


# (how, field name, required, serialize or named type, list items required, and for
# leaves the Python type that serializes to itself, or None)
Step = tuple[int, str, bool, Any, bool, type | None]
_Object = tuple[GraphQLObjectType, dict[str, list[FieldNode]], "Plan"]
# Each field's step, and for object fields the runtime types seen, by `__typename`.
Plan = list[tuple[str, list[FieldNode], Step | None, dict[str | None, _Object]]]
# Where a value is, built as Path only when graphql-core needs it (an error, a slow
# field): (parent, key, typename), the parent a LazyPath, a Path or None.
LazyPath = tuple[Any, str | int, str | None]

_SELF_SERIALIZING = ((GraphQLString, str), (GraphQLID, str), (GraphQLBoolean, bool))


def _never(value: Any) -> bool:  # noqa: ARG001 - the signature graphql-core calls
    return False


def _real(path: Any) -> Path | None:
    """The graphql-core Path of a LazyPath (a Path or None as it is)."""
    if type(path) is tuple:
        return Path(_real(path[0]), path[1], path[2])
    return path  # type: ignore[no-any-return]


def _unwrap(kind: Any) -> tuple[Any, bool]:
    required = is_non_null_type(kind)
    return (kind.of_type if required else kind), required


def _identity_type(kind: Any) -> type | None:
    """The Python type whose values `kind.serialize` returns unchanged, if known."""
    for scalar, python_type in _SELF_SERIALIZING:
        if kind is scalar:
            return python_type
    # Custom scalars without a serializer of their own pass values through.
    if is_scalar_type(kind) and kind.serialize is GraphQLScalarType.serialize:
        return str
    return None


def _step(parent_type: GraphQLObjectType, node: FieldNode) -> Step | None:
    name = node.name.value
    if name == "__typename":
        return TYPENAME, name, True, None, True, None
    field = parent_type.fields.get(name)
    if field is None or field.resolve is not None or node.arguments:
        return None
    kind, required = _unwrap(field.type)
    if is_leaf_type(kind):
        return LEAF, name, required, kind.serialize, True, _identity_type(kind)
    if is_list_type(kind):
        item, item_required = _unwrap(kind.of_type)
        if is_object_type(item) or is_abstract_type(item):
            return LIST, name, required, item, item_required, None
        return None
    return OBJECT, name, required, kind, True, None


class DictExecutionContext(ExecutionContext):
    """Executes synchronously; fields of dict sources skip the resolver machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every resolver is synchronous: no value needs the (slow) awaitable check.
        self.is_awaitable = _never
        self._plans: dict[tuple[str, int], Plan] = {}

    def _plan(self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]) -> Plan:
        # graphql-core caches each collected sub-selection for the whole execution,
        # so the dict's identity names one selection on one type.
        key = (parent_type.name, id(fields))
        plan = self._plans.get(key)
        if plan is None:
            plan = [
                (rkey, nodes, _step(parent_type, nodes[0]), {}) for rkey, nodes in fields.items()
            ]
            self._plans[key] = plan
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> AwaitableOrValue[dict[str, Any]]:
        if type(source_value) is not dict:
            return super().execute_fields(parent_type, source_value, path, fields)
        return self._fields(parent_type, source_value, path, fields, None)

    def _fields(
        self,
        parent_type: GraphQLObjectType,
        source: dict[str, Any],
        path: Path | LazyPath | None,
        fields: dict[str, list[FieldNode]],
        plan: Plan | None,
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for response_key, nodes, step, seen in plan or self._plan(parent_type, fields):
            if step is not None:
                # The commonest cases inline; everything else goes through _fast.
                how = step[0]
                if how == TYPENAME:
                    results[response_key] = parent_type.name
                    continue
                value = source.get(step[1])
                if how == LEAF and type(value) is step[5]:
                    results[response_key] = value
                    continue
                try:
                    if how == OBJECT and type(value) is dict:
                        at = (path, response_key, parent_type.name)
                        results[response_key] = self._object(step[3], nodes, at, value, seen)
                    else:
                        results[response_key] = self._fast(
                            parent_type, value, nodes, (path, response_key), step, seen=seen
                        )
                    continue
                except (_Slow, GraphQLError):
                    pass  # answered below by graphql-core, errors included
            field_path = Path(_real(path), response_key, parent_type.name)
            result = self.execute_field(parent_type, source, nodes, field_path)
            if result is not Undefined:
                results[response_key] = result
        return results

    def _fast(
        self,
        parent_type: GraphQLObjectType,
        value: Any,
        nodes: list[FieldNode],
        at: tuple[Path | LazyPath | None, str],
        step: Step,
        *,
        seen: dict[str | None, _Object],
    ) -> Any:
        how, _name, required, kind, item_required, _same = step
        if value is None:
            if required:
                raise _Slow
            return None
        if how == LEAF:
            if callable(value):
                raise _Slow
            serialize: Callable[[Any], Any] = kind
            try:
                return serialize(value)
            except Exception as error:
                raise _Slow from error
        # Paths only matter for errors, so leaves never build one.
        path = (at[0], at[1], parent_type.name)
        if how == OBJECT:
            return self._object(kind, nodes, path, value, seen)
        if type(value) is not list:
            raise _Slow
        items: list[Any] = []
        for index, item in enumerate(value):
            if item is None:
                if item_required:
                    raise _Slow
                items.append(None)
                continue
            items.append(self._object(kind, nodes, (path, index, None), item, seen))
        return items

    def _object(
        self,
        kind: GraphQLNamedType,
        nodes: list[FieldNode],
        path: LazyPath,
        value: Any,
        seen: dict[str | None, _Object],
    ) -> Any:
        if type(value) is not dict:
            raise _Slow
        typename = value.get("__typename")
        if typename is not None and type(typename) is not str:
            raise _Slow
        # `seen` belongs to this field of this selection, so `kind` and `nodes` are fixed.
        found = seen.get(typename)
        if found is None:
            runtime = self._runtime_type(kind, typename)
            fields = self.collect_subfields(runtime, nodes)
            found = (runtime, fields, self._plan(runtime, fields))
            seen[typename] = found
        return self._fields(found[0], value, path, found[1], found[2])

    def _runtime_type(self, kind: GraphQLNamedType, typename: str | None) -> GraphQLObjectType:
        """The object type a value of `kind` is, by its `__typename` for abstract types."""
        runtime: Any = kind
        if is_abstract_type(kind):
            runtime = self.schema.get_type(typename or "")
            if not is_object_type(runtime) or not self.schema.is_sub_type(kind, runtime):  # type: ignore[arg-type]
                raise _Slow
        elif not is_object_type(kind):
            raise _Slow
        return runtime  # type: ignore[no-any-return]
