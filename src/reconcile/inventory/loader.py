"""Find inventory files, read them safely, and map data paths back to file positions.

The common path parses each file once with libyaml and keeps no positions; only a
file that has a problem is composed again, with marks, to say where (`Positions`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconcile.core.errors import Issue, UsageError
from reconcile.core.model import Location, Origin
from reconcile.inventory.yamlsafe import Problem, RecursiveAlias, StrictLoader, expanded_size

INVENTORY_DIR = "automations"  # the project's inventory folder (see project.py)
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_EXPANSION = 10  # aliases may at most multiply a document's size by this much
SUFFIXES = (".yaml", ".yml")

Pointer = tuple[str | int, ...]
_ANCHOR = re.compile(r"&[^\s,\[\]{}]")


@dataclass(frozen=True)
class Document:
    """One loaded file: its display path, text and data (None for an empty file)."""

    path: str
    text: str
    data: Any


@dataclass(frozen=True)
class Finding:
    """A problem at a data path of a file, positioned later (and only if reported)."""

    path: str
    pointer: Pointer
    message: str
    at_key: bool = False
    see: tuple[Origin, ...] = ()
    see_label: str = "first at"
    warning: bool = False  # legal but probably not meant; an error only with --strict
    unless_quoted: bool = False  # a warning about a plain scalar that quoting silences


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it, else as given."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def discover(paths: Sequence[str]) -> list[Path]:
    """Every *.yaml / *.yml file named or found (recursively, skipping hidden) below `paths`."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(_walk(path))
        else:
            raise UsageError(f"{raw}: no such file or directory{_starting(path)}")
    return sorted(dict.fromkeys(found))


def _starting(path: Path) -> str:
    """How to make the default inventory folder, when that is what is missing."""
    if path.name != INVENTORY_DIR:
        return ""
    return f"; `reconcile init` makes {path} with an example to start from"


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(SUFFIXES) and not name.startswith("."):
                yield Path(folder, name)


def load_files(paths: Iterable[Path]) -> tuple[list[Document], list[Issue]]:
    """Read and parse every file; a file that cannot be read yields issues, not a document."""
    documents: list[Document] = []
    issues: list[Issue] = []
    for path in paths:
        shown = display_path(path)
        try:
            documents.append(load_file(path, shown))
        except _FileProblem as problem:
            issues.extend(problem.issues)
    return documents, issues


class _FileProblem(Exception):
    def __init__(self, *issues: Issue) -> None:
        super().__init__(issues[0].message)
        self.issues = issues


def load_file(path: Path, shown: str) -> Document:
    """Read, decode and parse one file; raise `_FileProblem` with positions on failure."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            message = f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"
            raise _FileProblem(Issue(Location(shown, 1, 1), message))
        raw = path.read_bytes()
    except OSError as error:
        raise _FileProblem(Issue(Location(shown), f"cannot read: {error.strerror}")) from None
    return parse_text(decode(raw, shown), shown)


def decode(raw: bytes, shown: str) -> str:
    """UTF-8 (a BOM is allowed); anything else is refused with the offending byte's place."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _FileProblem(Issue(Location(shown, 1, 1), "the file is UTF-16; save it as UTF-8"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start
        line = raw.count(b"\n", 0, start) + 1
        col = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        byte = raw[start : start + 1].hex()
        message = f"not valid UTF-8 (byte 0x{byte}); save the file as UTF-8"
        raise _FileProblem(Issue(Location(shown, line, col), message)) from None


def parse_text(text: str, shown: str) -> Document:
    """Parse one document of the strict dialect; every failure becomes positioned issues."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _ANCHOR.search(text):
            _check_aliases(node, shown)
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise _FileProblem(_yaml_issue(error, text, shown)) from None
    except Problem as problem:
        raise _FileProblem(_node_issue(shown, problem.node, problem.message)) from None
    except RecursionError:
        message = "nesting is too deep to read"
        raise _FileProblem(Issue(Location(shown, 1, 1), message)) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise _FileProblem(*(_node_issue(shown, p.node, p.message) for p in loader.problems))
    return Document(shown, text, data)


def _check_aliases(node: Node, shown: str) -> None:
    try:
        expanded = expanded_size(node)
    except RecursiveAlias as cycle:
        raise _FileProblem(_node_issue(shown, cycle.node, "an alias refers to itself")) from None
    distinct = _distinct_size(node)
    if expanded > MAX_EXPANSION * distinct and expanded > 10_000:
        message = (
            f"aliases expand {distinct:,} nodes to {expanded:,}; refusing a document "
            f"that aliases grow more than {MAX_EXPANSION}x"
        )
        raise _FileProblem(Issue(Location(shown, 1, 1), message))


def _distinct_size(root: Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return len(seen)


def _yaml_issue(error: yaml.MarkedYAMLError, text: str, shown: str) -> Issue:
    mark = error.problem_mark or error.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or "invalid YAML"
    if mark is not None and _char_at(text, mark) == "\t":
        problem = "a tab character; YAML indents with spaces only"
    elif error.context and "expected a single document" in error.context:
        problem = "a file holds one YAML document; remove the extra '---'"
    elif error.context:
        problem = f"{problem} ({error.context})"
    for known, hint in _YAML_HINTS.items():
        if known in problem:
            problem = f"{problem}; {hint}"
    return Issue(Location(shown, line, col), f"invalid YAML: {problem}")


_YAML_HINTS = {
    "did not find expected key": "check this line's indentation against the keys above it",
    "mapping values are not allowed here": "quote a value that contains ': ', or check the "
    "indentation",
    "found undefined alias": "an alias (*name) needs an anchor (&name) earlier in the file",
}


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    return line[mark.column : mark.column + 1]


def _node_issue(shown: str, node: Node, message: str) -> Issue:
    mark = node.start_mark
    return Issue(Location(shown, mark.line + 1, mark.column + 1), message)


class Positions:
    """Turns `Finding`s into positioned `Issue`s, composing each file at most once."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._texts = {d.path: d.text for d in documents}
        self._roots: dict[str, Node | None] = {}

    def issue(self, finding: Finding) -> Issue:
        message = finding.message
        if finding.see:
            places = ", ".join(str(self.locate(o.path, o.pointer)) for o in finding.see)
            message = f"{message} ({finding.see_label} {places})"
        return Issue(self.locate(finding.path, finding.pointer, finding.at_key), message)

    def locate(self, path: str, pointer: Pointer, at_key: bool = False) -> Location:
        found = self._node(path, pointer, at_key)
        if found is None:
            return Location(path, 1, 1)
        mark = found.start_mark
        return Location(path, mark.line + 1, mark.column + 1)

    def quoted(self, path: str, pointer: Pointer) -> bool:
        """Whether the value at `pointer` was written as a quoted string."""
        found = self._node(path, pointer, False)
        return isinstance(found, ScalarNode) and found.style in ("'", '"')

    def _node(self, path: str, pointer: Pointer, at_key: bool) -> Node | None:
        """The node at `pointer`, or its deepest existing ancestor."""
        found = self._root(path)
        if found is None:
            return None
        for step in pointer:
            child = _step(found, step, at_key and step == pointer[-1])
            if child is None:
                break
            found = child
        return found

    def _root(self, path: str) -> Node | None:
        if path not in self._roots:
            text = self._texts.get(path)
            self._roots[path] = None if text is None else yaml.compose(text, Loader=StrictLoader)
        return self._roots[path]


def _step(node: Node, step: str | int, want_key: bool) -> Node | None:
    if isinstance(node, SequenceNode) and isinstance(step, int):
        return node.value[step] if 0 <= step < len(node.value) else None
    if isinstance(node, MappingNode):
        for key, value in reversed(_pairs(node)):
            if isinstance(key, ScalarNode) and key.value == step:
                return key if want_key else value
    return None


def _pairs(node: MappingNode) -> list[tuple[Node, Node]]:
    """Own and merged (<<) pairs; own ones last, so a reversed search prefers them."""
    pairs: list[tuple[Node, Node]] = []
    own: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                if isinstance(source, MappingNode):
                    pairs.extend(_pairs(source))
        else:
            own.append((key, value))
    return pairs + own
