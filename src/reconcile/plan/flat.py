"""Flatten canonical values into `path: value` rows: the plan renderers and the plan diff."""

from __future__ import annotations

from typing import Any

from reconcile.core.safe import json_text, visible


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf paths and values, with the same dotted paths a plan's field changes use.

    Empty values (null) are left out: a created or deleted object shows what it has.
    """
    if not prefix and not value:
        return []  # nothing to show, not an empty row
    if isinstance(value, dict) and value:
        items: list[tuple[str | int, Any]] = list(value.items())
    elif isinstance(value, list) and value:
        items = list(enumerate(value))
    else:
        return [] if value is None else [(prefix, value)]
    rows: list[tuple[str, Any]] = []
    for key, child in items:
        name = visible(str(key))  # a key is data too: it must not break the line
        rows.extend(flatten(child, f"{prefix}.{name}" if prefix else name))
    return rows or [(prefix, {})]


def show(value: Any) -> str:
    """A value as JSON text (strings quoted, null for nothing), control characters escaped."""
    return json_text(value)
