"""A changed mapping or list (a payload) as a readable nested diff, not flattened paths.

Only what changed is shown, under the keys and list positions that lead to it:
`~` changed, `+` added, `-` removed (or, for a `diff` block, `-` old and `+` new lines).
List items are aligned first, so one block
inserted into a Slack message shows as one addition, not as every later block changed.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from reconcile.core.safe import json_text, visible
from reconcile.plan.flat import show

_MISSING = object()
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def field_lines(path: str, before: Any, after: Any) -> list[str]:
    """The lines of one changed field: one `~ path: old -> new` line, or a nested diff."""
    path = visible(path)
    if _container(before) and _container(after) and type(before) is type(after):
        return [f"~ {path}:", *_diff(before, after, 1)]
    if before is None and _container(after):
        return [f"+ {path}:", *_diff(type(after)(), after, 1)]
    if after is None and _container(before):
        return [f"- {path}:", *_diff(before, type(before)(), 1)]
    return [f"~ {path}: {show(before)} -> {show(after)}"]


def diff_lines(path: str, before: Any, after: Any) -> list[str]:
    """The same change as a unified diff (a `diff` block): the sign in the first column,
    `-` for each old value and `+` for each new one."""
    path = visible(path)
    if _container(before) and _container(after) and type(before) is type(after):
        return [f"  {path}:", *_diff(before, after, 1, unified=True)]
    if before is None and _container(after):
        return [f"+ {path}:", *_diff(type(after)(), after, 1, unified=True)]
    if after is None and _container(before):
        return [f"- {path}:", *_diff(before, type(before)(), 1, unified=True)]
    old = [] if before is None else [f"- {path}: {show(before)}"]
    return [*old, *([] if after is None else [f"+ {path}: {show(after)}"])]


def _container(value: Any) -> bool:
    return isinstance(value, dict | list)


def _line(sign: str, pad: str, text: str, unified: bool) -> str:
    # A diff block colours a line by its first character: there the sign goes first.
    return f"{sign}{pad} {text}" if unified else f"{pad}{sign} {text}"


def _diff(before: Any, after: Any, depth: int, *, unified: bool = False) -> list[str]:
    pad = "    " * depth
    lines: list[str] = []
    for label, old, new in _pairs(before, after):
        if old is _MISSING or new is _MISSING:
            sign, value = ("+", new) if old is _MISSING else ("-", old)
            lines.extend(_whole(sign, label, value, depth, unified))
        elif type(old) is type(new) and _container(old):
            lines.append(_line(" ", pad, f"{label}:", unified))
            lines.extend(_diff(old, new, depth + 1, unified=unified))
        elif unified:
            lines.append(_line("-", pad, f"{label}: {show(old)}", unified))
            lines.append(_line("+", pad, f"{label}: {show(new)}", unified))
        else:
            lines.append(f"{pad}~ {label}: {show(old)} -> {show(new)}")
    return lines


def _whole(sign: str, label: str, value: Any, depth: int, unified: bool = False) -> list[str]:
    """An added or removed value; a non-empty mapping or list is shown nested."""
    pad = "    " * depth
    if not (_container(value) and value):
        return [_line(sign, pad, f"{label}: {show(value)}", unified)]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    lines = [_line(sign, pad, f"{label}:", unified)]
    for key, child in items:
        name = _key(key) if isinstance(key, str) else f"[{key}]"
        lines.extend(_whole(sign, name, child, depth + 1, unified))
    return lines


def _pairs(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(label, old, new) for every entry that differs; _MISSING on the side it is absent."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [*after, *(key for key in before if key not in after)]
        pairs = [(_key(k), before.get(k, _MISSING), after.get(k, _MISSING)) for k in keys]
        return [(label, old, new) for label, old, new in pairs if not _same(old, new)]
    return _list_pairs(list(before), list(after))


def _list_pairs(before: list[Any], after: list[Any]) -> list[tuple[str, Any, Any]]:
    texts = ([show(item) for item in before], [show(item) for item in after])
    matcher = difflib.SequenceMatcher(None, *texts, autojunk=False)
    pairs: list[tuple[str, Any, Any]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old, new = texts[0][i1:i2], texts[1][j1:j2]
        for i, j in _align(old, new):
            was = before[i1 + i] if i is not None else _MISSING
            now = after[j1 + j] if j is not None else _MISSING
            pairs.append((f"[{j1 + j}]" if j is not None else f"[{i1 + (i or 0)}]", was, now))
    return pairs


def _align(old: list[str], new: list[str]) -> list[tuple[int | None, int | None]]:
    """Pair each changed item with its most similar counterpart, keeping both orders.

    A dynamic programme over similarity (items less than half alike are not paired),
    so a block inserted before a changed one shows as an addition plus a change.
    """
    score = [[0.0] * (len(new) + 1) for _ in range(len(old) + 1)]
    for i in range(len(old) - 1, -1, -1):
        for j in range(len(new) - 1, -1, -1):
            alike = difflib.SequenceMatcher(None, old[i], new[j]).ratio()
            paired = score[i + 1][j + 1] + alike if alike >= 0.5 else -1.0
            score[i][j] = max(paired, score[i + 1][j], score[i][j + 1])
    steps: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < len(old) or j < len(new):
        if i == len(old):
            steps.append((None, j))
            j += 1
        elif j == len(new) or score[i + 1][j] == score[i][j]:
            steps.append((i, None))
            i += 1
        elif score[i][j + 1] == score[i][j]:
            steps.append((None, j))
            j += 1
        else:
            steps.append((i, j))
            i, j = i + 1, j + 1
    return steps


def _same(old: Any, new: Any) -> bool:
    return old is not _MISSING and new is not _MISSING and old == new


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json_text(key)
