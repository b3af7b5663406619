"""What differs between a reviewed plan and the live one, for apply's refusal.

Pure: two JSON plans in, one line per difference out. Changes match by resource
(kind, entity, name): a change is added, gone, or altered (with the fields that differ).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconcile.core.safe import visible
from reconcile.plan.flat import flatten

Ident = tuple[str, str, str]
SECTIONS = (
    "conflicts",
    "protected",
    "kept",
    "unmanaged",
    "not_considered",
    "requires_force",
    "changed_outside",
    "only",
)


def differences(reviewed: Mapping[str, Any] | None, live: Mapping[str, Any]) -> list[str]:
    """`added`, `gone` and `altered` lines, then the other parts that differ.

    Empty when there is no reviewed plan to compare with (only its fingerprint).
    """
    if not isinstance(reviewed, Mapping):
        return []
    before, after = _changes(reviewed), _changes(live)
    lines = [f"added: {_title(after[i])}" for i in sorted(after.keys() - before.keys())]
    lines += [f"gone: {_title(before[i])}" for i in sorted(before.keys() - after.keys())]
    for ident in sorted(before.keys() & after.keys()):
        if before[ident] != after[ident]:
            lines.append(f"altered: {_altered(before[ident], after[ident])}")
    others = [s for s in SECTIONS if reviewed.get(s) != live.get(s)]
    if others:
        lines.append("also differs: " + ", ".join(others))
    return lines


def _changes(plan: Mapping[str, Any]) -> dict[Ident, dict[str, Any]]:
    rows = plan.get("changes")
    if not isinstance(rows, list):
        return {}
    found: dict[Ident, dict[str, Any]] = {}
    for row in rows:
        if isinstance(row, dict):
            found[(str(row.get("kind")), str(row.get("entity")), str(row.get("name")))] = row
    return found


def _title(change: Mapping[str, Any]) -> str:
    action, kind = change.get("action"), change.get("kind")
    # Names from the server or the inventory: shown so that they cannot forge a line.
    entity, name = visible(str(change.get("entity"))), visible(str(change.get("name")))
    return f"{visible(str(action))} {visible(str(kind))} {entity}/{name}"


def _altered(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    if before.get("action") != after.get("action"):
        return f"{_title(after)} (was {before.get('action')})"
    paths = sorted(_leaves(before) ^ _leaves(after))
    names = dict.fromkeys(path for path, _ in paths)
    return f"{_title(after)} ({', '.join(names)})" if names else _title(after)


def _leaves(change: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(path, value) of both sides of a change, and its rename, to compare two changes."""
    rows = [*flatten(change.get("before")), *flatten(change.get("after"))]
    if change.get("renamed_from"):
        rows.append(("name", change.get("renamed_from")))
    return {(path, json.dumps(value, sort_keys=True)) for path, value in rows}
