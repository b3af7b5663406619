"""One object written into an inventory file, or taken out of one: the new text of the
file, for `reconcile import` and `reconcile forget`. The rest of the file stays as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconcile.core.errors import UsageError
from reconcile.core.model import ResourceKey, State
from reconcile.core.safe import key_text, visible
from reconcile.export import convert, edit
from reconcile.export.convert import Rejected

HEADER = "# Imported by `reconcile import`.\n"


def section(key: ResourceKey) -> str:
    """The list of an inventory file that declares objects of the key's kind."""
    return f"{key.kind}s"


def row(key: ResourceKey, state: State, rejected: Rejected) -> dict[str, Any]:
    """The object's inventory mapping; UsageError when the inventory cannot express it."""
    why = convert.left_out(key.entity, state, rejected).get(key)
    if why is not None:
        raise UsageError(f"cannot import {key_text(key)}: {why}")
    others = [r.key for r in state.resources if r.key != key]
    rows: list[dict[str, Any]] = convert.draft(key.entity, state, others).get(section(key), [])
    if not rows:
        raise UsageError(f"cannot import {key_text(key)}: the inventory has no words for it")
    return rows[0]


def added(path: Path, key: ResourceKey, item: dict[str, Any], schema_ref: str | None) -> str:
    """The file's text with `item` declared in it (a new file when there is none)."""
    shown = str(path)
    if not path.exists():
        modeline = convert.MODELINE.format(schema=schema_ref) if schema_ref else ""
        body = yaml.safe_dump(
            {"entity": key.entity, section(key): [item]},
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
        return modeline + HEADER + body
    text = path.read_text("utf-8")
    data = yaml.safe_load(text) if text.strip() else None
    entity = data.get("entity") if isinstance(data, dict) else None
    if entity != key.entity:
        raise UsageError(
            f"{shown} declares entity {visible(str(entity))}, not {visible(key.entity)}; "
            f"import into a file of entity {visible(key.entity)} (--into FILE)"
        )
    return edit.insert(text, section(key), item, shown)


def removed(path: Path, key: ResourceKey) -> str:
    """The file's text without the object's declaration."""
    return edit.remove(path.read_text("utf-8"), section(key), key.name, str(path))
