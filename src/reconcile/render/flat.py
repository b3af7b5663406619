"""Flatten canonical values into `path: value` lines, shared by the plan renderers."""

from __future__ import annotations

import json
from typing import Any


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf paths and values of nested mappings; lists and payloads stay whole."""
    if isinstance(value, dict) and value and not prefix.endswith("payload"):
        rows: list[tuple[str, Any]] = []
        for key in value:
            rows.extend(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, value)]


def show(value: Any) -> str:
    """A value as JSON text (strings quoted, null for nothing)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
