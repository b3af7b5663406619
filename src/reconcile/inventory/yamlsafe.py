"""A strict, safe YAML dialect: JSON-compatible values only, YAML 1.2 scalars, string keys.

PyYAML follows YAML 1.1, where `on`, `no` and `yes` are booleans and `2024-01-01` is
a date. Here only `true`/`false` are booleans, only `null`/`~`/empty is null, keys are
always strings, and any tag beyond the JSON types is refused. Parsing runs in libyaml;
values are built from its nodes in one direct walk (`StrictLoader.construct_document`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MERGE_TAG = "tag:yaml.org,2002:merge"
_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SCALARS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})

# YAML 1.2 core schema, minus .inf and .nan (JSON has no such numbers).
_RESOLVERS = (
    (MERGE_TAG, r"^<<$", "<"),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (_FLOAT, r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", "-+.0123456789"),
)


class Problem(Exception):
    """A mistake found while constructing values; carries the node it is about."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _int(value: str) -> int:
    sign, digits = (-1, value[1:]) if value[:1] == "-" else (1, value.lstrip("+"))
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    return sign * int(digits, 10)


class StrictLoader(_CLoader):  # type: ignore[misc, valid-type]
    """libyaml parsing with the strict constructors below; collects `problems`."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}
    yaml_constructors: ClassVar[dict[Any, Any]] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[Problem] = []
        self._tags: dict[tuple[str, bool], str] = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of an untagged node, as the resolvers below say; remembered per plain
        text (libyaml asks for every scalar, and most texts repeat: keys, values)."""
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        key = (value, implicit[0])
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag

    def construct_document(self, node: Node) -> Any:
        """The document's value, built depth-first in one walk. PyYAML's generic
        constructor (a generator per container, a dispatch table per node) costs more
        than libyaml's parsing; the values and the problems found are the same, and
        problems come in document order. An alias is built again where it is used
        (`loader._check_aliases` bounds how much that can grow)."""
        return self._build(node)

    def _build(self, node: Node) -> Any:
        kind, tag = type(node), node.tag
        if kind is ScalarNode:
            if tag == _STR:
                return node.value
            if tag in _SCALARS:
                return self.construct_scalar_value(node)  # type: ignore[arg-type]
        elif kind is MappingNode:
            if tag == _MAP:
                return self._map(node)  # type: ignore[arg-type]
        elif kind is SequenceNode and tag == _SEQ:
            return [self._build(child) for child in node.value]
        return self.refuse(node)

    def _map(self, node: MappingNode) -> dict[str, Any]:
        data: dict[str, Any] = {}
        pairs = node.value
        if any(key.tag == MERGE_TAG for key, _ in pairs):
            self.flatten_mapping(node)
            pairs = node.value
        repeated: list[tuple[Node, Node]] = []  # (the repeated key, its first)
        seen: dict[str, Node] = {}
        for key_node, value_node in pairs:
            if type(key_node) is not ScalarNode:
                self.problems.append(Problem(key_node, "a key must be a plain string"))
                continue
            key = key_node.value
            if key in seen and not getattr(key_node, "merged", False):
                repeated.append((key_node, seen[key]))
                continue
            seen[key] = key_node
            data[key] = self._build(value_node)
        if repeated:
            self.problems.append(_repeated(repeated))
        return data

    def construct_scalar_value(self, node: ScalarNode) -> Any:
        value: str = node.value
        if node.tag == _STR:
            return value
        try:
            if node.tag == _INT:
                return _int(value)
            if node.tag == _FLOAT:
                return float(value)
        except ValueError:
            raise Problem(node, f"{value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}") from None
        if node.tag == _BOOL:
            return value.lower() == "true"
        return None

    def construct_map(self, node: MappingNode) -> Any:
        data: dict[str, Any] = {}
        yield data
        if any(key.tag == MERGE_TAG for key, _ in node.value):
            self.flatten_mapping(node)
        seen: dict[str, Node] = {}
        repeated: list[tuple[Node, Node]] = []  # (the repeated key, its first)
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(key_node, "a key must be a plain string"))
                continue
            key = key_node.value
            if key in seen and not getattr(key_node, "merged", False):
                repeated.append((key_node, seen[key]))
                continue
            seen[key] = key_node
            data[key] = self.construct_object(value_node, deep=False)
        if repeated:
            self.problems.append(_repeated(repeated))

    def construct_seq(self, node: SequenceNode) -> Any:
        data: list[Any] = []
        yield data
        data.extend(self.construct_object(child, deep=False) for child in node.value)

    def refuse(self, node: Node) -> Any:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise Problem(
            node,
            f"the tag {tag} is not allowed: only strings, numbers, booleans, null, "
            "mappings and lists",
        )

    def flatten_mapping(self, node: MappingNode) -> None:
        """Like SafeConstructor's, but marks merged-in keys so own keys may override them."""
        own = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise Problem(source, "a merge key (<<) takes a mapping or a list of mappings")
                self.flatten_mapping(source)
                merged.extend(source.value)
        own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        kept = []
        for key_node, value_node in merged:
            if isinstance(key_node, ScalarNode) and key_node.value in own_keys:
                continue
            copy = ScalarNode(key_node.tag, key_node.value, key_node.start_mark, key_node.end_mark)
            copy.merged = True  # type: ignore[attr-defined]
            kept.append((copy, value_node))
        node.value = kept + own


for _tag, _pattern, _first in _RESOLVERS:
    StrictLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
for _tag in (_STR, _INT, _FLOAT, _BOOL, _NULL):
    StrictLoader.add_constructor(_tag, StrictLoader.construct_scalar_value)
StrictLoader.add_constructor(_MAP, StrictLoader.construct_map)
StrictLoader.add_constructor(_SEQ, StrictLoader.construct_seq)
StrictLoader.add_constructor(None, StrictLoader.refuse)


class RecursiveAlias(Exception):
    """Raised by `expanded_size` for a node that contains itself through an alias."""

    def __init__(self, node: Node) -> None:
        super().__init__("recursive alias")
        self.node = node


def expanded_size(root: Node) -> int:
    """How many nodes the document has once every alias is expanded (linear time)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if ready:
            visiting.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            continue
        if id(node) in sizes:
            continue
        if id(node) in visiting:
            raise RecursiveAlias(node)
        visiting.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _repeated(repeated: list[tuple[Node, Node]]) -> Problem:
    """One problem for the keys a mapping repeats, at the first: several at once are most
    often a list item whose `- ` is missing, which is said."""
    (key_node, first), *more = repeated
    message = f"duplicate key {key_node.value!r} (first at line {first.start_mark.line + 1})"
    if more:
        keys = ", ".join(repr(k.value) for k, _ in more)
        line = key_node.start_mark.line + 1
        message += (
            f", and {keys} after it: if a new list item starts at line {line}, begin it with '- '"
        )
    return Problem(key_node, message)
