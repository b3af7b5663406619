"""A run's history read back as the SDK reads it: `history` pages by step (`run.history()`,
and `run.scan_history()` through wandb-core), `sampledHistory` the rows holding given
keys, `historyKeys` the last step, `parquetHistory` (nothing exported: all is live).

Rows are read in line order. The SDK's steps increase with its lines (`_step` of line N
is at least N), so a page ending before step S reads only the lines before S.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from reconcile.server.api import validation
from reconcile.server.clients.runs import Run
from reconcile.server.errors import InvalidInput

MAX_ROWS = 10_000  # rows of one answer
MAX_SPECS = 10
_MISSING: Any = object()


def _lines(con: sqlite3.Connection, run: Run, below: int | None) -> Iterator[tuple[str, Any]]:
    """Each line's text and object, in order (lines at or past `below` not read)."""
    limit = run.history_lines if below is None else max(min(below, run.history_lines), 0)
    cursor = con.execute(
        "SELECT row FROM run_history WHERE run_id = ? AND line < ? ORDER BY line",
        (run.id, limit),
    )
    for (text,) in cursor:
        yield text, json.loads(text)


def _whole(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
        raise InvalidInput(f"{name} must be a whole number")
    return value


def _in_range(row: Any, low: int | None, high: int | None) -> bool:
    step = row.get("_step") if isinstance(row, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        return low is None and high is None
    return (low is None or step >= low) and (high is None or step < high)


def page(con: sqlite3.Connection, run: Run, args: dict[str, Any]) -> list[str]:
    """`history(samples, minStep, maxStep)`: rows as sent, steps in [minStep, maxStep)."""
    samples = min(max(args.get("samples") or 500, 1), MAX_ROWS)
    low, high = _whole("minStep", args.get("minStep")), _whole("maxStep", args.get("maxStep"))
    out: list[str] = []
    for text, row in _lines(con, run, high):
        if _in_range(row, low, high):
            out.append(text)
            if len(out) == samples:
                break
    return out


def _spec(text: str) -> tuple[list[str], int | None, int | None, int]:
    spec = validation.json_object("specs", text)
    keys = spec.get("keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise InvalidInput("specs: keys must be a list of metric names")
    low, high = _whole("minStep", spec.get("minStep")), _whole("maxStep", spec.get("maxStep"))
    samples = _whole("samples", spec.get("samples")) or 500
    return keys, low, None if high is None else high + 1, min(max(samples, 1), MAX_ROWS)


def _value(row: dict[str, Any], key: str) -> Any:
    """A row's value under W&B's name (`val.loss` may be nested)."""
    if key in row:
        return row[key]
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def sampled(con: sqlite3.Connection, run: Run, specs: list[str]) -> list[list[dict[str, Any]]]:
    """`sampledHistory(specs)`: for each spec, the rows in its step range that hold every
    key, with those keys only (at most `samples` of them, the first; not downsampled)."""
    if len(specs) > MAX_SPECS:
        raise InvalidInput(f"specs: at most {MAX_SPECS}")
    answers = []
    for text in specs:
        keys, low, high, samples = _spec(text)
        rows: list[dict[str, Any]] = []
        for _, row in _lines(con, run, high):
            if not isinstance(row, dict) or not _in_range(row, low, high):
                continue
            values = {key: _value(row, key) for key in keys}
            if all(value is not _MISSING for value in values.values()):
                rows.append(values)
                if len(rows) == samples:
                    break
        answers.append(rows)
    return answers


def keys(con: sqlite3.Connection, run: Run) -> dict[str, Any]:
    """`historyKeys`: the last logged step (-1 with no history), as the SDK reads it."""
    last = con.execute(
        "SELECT row FROM run_history WHERE run_id = ? ORDER BY line DESC LIMIT 1", (run.id,)
    ).fetchone()
    step = json.loads(last[0]).get("_step") if last else None
    if not isinstance(step, int) or isinstance(step, bool):
        step = run.history_lines - 1
    return {"lastStep": step, "keys": {}}
