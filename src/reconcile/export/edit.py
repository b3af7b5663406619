"""Add one item to, or take one out of, a list of an inventory file, as text.

Pure: the rest of the file (comments, order, quoting, blank lines) stays byte for byte,
so `reconcile import` and `reconcile forget` change one object's lines and nothing else.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconcile.core.errors import UsageError


def insert(text: str, section: str, item: dict[str, Any], where: str) -> str:
    """`text` with `item` appended to its top-level list `section` (added when absent)."""
    root = _root(text, where)
    found = _section(root, section) if root is not None else None
    if found is None:
        body = yaml.safe_dump({section: [item]}, sort_keys=False, allow_unicode=True, width=100)
        return (text if not text or text.endswith("\n") else text + "\n") + body
    if not isinstance(found, SequenceNode) or found.flow_style or not found.value:
        raise UsageError(
            f"{where}: `{section}` is not a list of items one per line; write it so "
            "(`- name: ...`), then import again"
        )
    lines = text.splitlines(keepends=True)
    indent = _dash_column(lines, found.value[0])
    row = yaml.safe_dump([item], sort_keys=False, allow_unicode=True, width=100)
    added = "".join(" " * indent + line if line.strip() else line for line in row.splitlines(True))
    after = _last_line(found) + 1
    head = "".join(lines[:after])
    if head and not head.endswith("\n"):
        head += "\n"
    return head + added + "".join(lines[after:])


def remove(text: str, section: str, name: str, where: str) -> str:
    """`text` without the item of `section` named `name` (the section too when it was the
    only one); UsageError when there is no such item."""
    root = _root(text, where)
    found = _section(root, section) if root is not None else None
    items = found.value if isinstance(found, SequenceNode) and not found.flow_style else []
    index = next((i for i, node in enumerate(items) if _name(node) == name), None)
    if index is None:
        raise UsageError(f"{where}: no item named {name!r} under `{section}`")
    lines = text.splitlines(keepends=True)
    if len(items) == 1:
        key = _key_node(root, section)
        start, end = key.start_mark.line, _last_line(items[0])
    else:
        start, end = items[index].start_mark.line, _last_line(items[index])
    return "".join(lines[:start] + lines[end + 1 :])


def _root(text: str, where: str) -> MappingNode | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise UsageError(f"{where}: not valid YAML ({error})") from None
    if node is None:
        return None
    if not isinstance(node, MappingNode):
        raise UsageError(f"{where}: not an inventory file (a mapping with `entity:`)")
    return node


def _section(root: MappingNode, section: str) -> Node | None:
    return next((value for key, value in root.value if _is(key, section)), None)


def _key_node(root: MappingNode | None, section: str) -> Node:
    assert root is not None  # a section was found in it
    found: Node = next(key for key, _ in root.value if _is(key, section))
    return found


def _is(node: Node, text: str) -> bool:
    return isinstance(node, ScalarNode) and node.value == text


def _name(node: Node) -> str | None:
    if not isinstance(node, MappingNode):
        return None
    value = _section(node, "name")
    return value.value if isinstance(value, ScalarNode) else None


def _dash_column(lines: list[str], item: Node) -> int:
    """The column of the `-` that starts `item`."""
    line = lines[item.start_mark.line]
    return max(line.rfind("-", 0, item.start_mark.column), 0)


def _last_line(node: Node) -> int:
    """The 0-based number of the last line holding `node`'s content (comments after it
    and blank lines are not its content)."""
    if isinstance(node, MappingNode) and node.value:
        return _last_line(node.value[-1][1])
    if isinstance(node, SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
