"""Which automations an event fires: candidates by index, then filters and metric state.

Candidates come from one indexed query by scope and event type; artifact filters are
RE2 regexes; metric automations keep their recent values per run in `metric_state`
and fire when their condition becomes true.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import statistics
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

from reconcile import wire
from reconcile.events import EVENTS
from reconcile.model import Automation, Scope
from reconcile.runtime.incoming import TRIGGERS, IncomingEvent
from reconcile.server.api import present
from reconcile.server.store.automations import (
    SlackIntegration,
    TriggerRow,
    Webhook,
    triggers_for_event,
)

# The wire event types an incoming event type may fire.
WIRE_TYPES: dict[str, list[str]] = {}
for _kind, _types in TRIGGERS.items():
    for _type in _types:
        WIRE_TYPES.setdefault(_type, []).append(EVENTS[_kind].wire)
_CMP = {
    "above": lambda v, t: v > t,
    "below": lambda v, t: v < t,
    "at_least": lambda v, t: v >= t,
    "at_most": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Fired:
    """One automation an event fired, and the metric value that made it fire."""

    row: TriggerRow
    automation: Automation
    metric: tuple[str, float] | None = None


# Decoded automations by everything their decoding reads (the whole stored row, its
# integration and the entity's name): a write changes the key, so an entry is never
# stale, even when `updated_at` (whole seconds) does not move. Bounded: emptied when full.
_DECODED: dict[Hashable, Automation] = {}
_DECODED_MAX = 20_000  # about 2 KB each with its key
_DECODED_LOCK = threading.Lock()


# Every field of a record, as one tuple (attrgetter: no Python-level loop per field).
_ROW_SLOTS = tuple(name for name in TriggerRow.__slots__ if name not in ("webhook", "slack"))
_plain = operator.attrgetter(*_ROW_SLOTS)
_webhook_fields = operator.attrgetter(*Webhook.__slots__)
_slack_fields = operator.attrgetter(*SlackIntegration.__slots__)


def _row_key(row: TriggerRow, entity: str) -> Hashable:
    webhook = _webhook_fields(row.webhook) if row.webhook is not None else None
    slack = _slack_fields(row.slack) if row.slack is not None else None
    return (entity, _plain(row), webhook, slack)


def decoded(row: TriggerRow, entity: str) -> Automation:
    """`automation_of(row, entity)`, decoded once per distinct stored row."""
    key = _row_key(row, entity)
    found = _DECODED.get(key)
    if found is None:
        found = automation_of(row, entity)
        with _DECODED_LOCK:
            if len(_DECODED) >= _DECODED_MAX:
                _DECODED.clear()
            _DECODED[key] = found
    return found


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern)


def automation_of(row: TriggerRow, entity: str) -> Automation:
    """The inventory model of a stored trigger, by the wire decoding `export` uses."""
    shown = present.trigger(row)
    condition = shown["triggeringCondition"]
    event = wire.decode_event(condition["eventType"], condition["filter"])
    action = wire.decode_action(shown["triggeredAction"])
    project = row.scope_project[1] if row.scope_project else row.scope_name
    collection = row.scope_name if row.scope_type == "ARTIFACT_COLLECTION" else None
    return Automation(entity, row.name, Scope(project, collection), event, action)


def match(
    con: sqlite3.Connection, event: IncomingEvent, project_id: int, collection_id: int | None
) -> list[Fired]:
    """The automations `event` fires, in creation order; metric state is updated."""
    fired: list[Fired] = []
    for row in triggers_for_event(con, project_id, collection_id, WIRE_TYPES[event.type]):
        automation = decoded(row, event.entity)
        if automation.event.kind.startswith("unsupported:"):
            continue
        if event.run is not None and not _run_name_ok(automation, event.run.name):
            continue
        if event.type == "run_logged":
            metric = _metric(con, row.id, automation, event)
            if metric is not None:
                fired.append(Fired(row, automation, metric))
        elif _simple(automation, event):
            fired.append(Fired(row, automation))
    return fired


def _search(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return value is not None and _regex(pattern).search(value) is not None


def _simple(automation: Automation, event: IncomingEvent) -> bool:
    params = automation.event.params
    if event.type == "run_state":
        state = "failed" if event.state == "crashed" else event.state
        return state in params.get("states", ())
    return _search(params.get("alias"), event.alias) and _search(params.get("tag"), event.tag)


def _run_name_ok(automation: Automation, name: str) -> bool:
    test = automation.event.params.get("run_name")
    if not test:
        return True
    ((op, value),) = test.items()
    if op == "equals":
        return bool(name == value)
    if op == "contains":
        return value in name
    return _search(value, name)


def _needed(params: Any, kind: str) -> int:
    window = int(params.get("window") or 1)
    if kind == "run_metric_change":
        return window + int(params.get("prior_window") or window)
    if kind == "run_metric_zscore":
        return window + 1
    return window


def _metric(
    con: sqlite3.Connection, trigger_id: int, automation: Automation, event: IncomingEvent
) -> tuple[str, float] | None:
    """The (name, value) that makes the automation fire now, or None; state is kept."""
    params, kind = automation.event.params, automation.event.kind
    name = params["metric"]
    if name not in event.metrics:
        return None  # a metric absent from a row changes nothing
    run_id = event.run.id if event.run else ""
    row = con.execute(
        "SELECT vals, active FROM metric_state WHERE trigger_id = ? AND run_id = ?",
        (trigger_id, run_id),
    ).fetchone()
    values: list[float] = json.loads(row["vals"]) if row else []
    values = [*values, float(event.metrics[name])][-_needed(params, kind) :]
    value = _condition(kind, params, values)
    active = value is not None
    con.execute(
        "INSERT INTO metric_state (trigger_id, run_id, vals, active) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (trigger_id, run_id) DO UPDATE SET vals = excluded.vals, "
        "active = excluded.active",
        (trigger_id, run_id, json.dumps(values), int(active)),
    )
    was_active = bool(row["active"]) if row else False
    return (name, value) if value is not None and not was_active else None


def aggregate(op: str | None, values: Sequence[float]) -> float:
    if op == "max":
        return max(values)
    if op == "min":
        return min(values)
    if op == "average":
        return sum(values) / len(values)
    return values[-1]


def _condition(kind: str, params: Any, values: list[float]) -> float | None:
    """The value for which the condition holds over `values` (oldest first), or None."""
    window = int(params.get("window") or 1)
    if kind == "run_metric":
        current = aggregate(params.get("aggregate"), values[-window:])
        ((op, limit),) = [(n, params[n]) for n in _CMP if params.get(n) is not None]
        return current if _CMP[op](current, float(limit)) else None
    if kind == "run_metric_change":
        return _change(params, values, window)
    return _zscore(params, values, window)


def _change(params: Any, values: list[float], window: int) -> float | None:
    prior_size = int(params.get("prior_window") or window)
    if len(values) < window + prior_size:
        return None
    op = params.get("aggregate")
    current = aggregate(op, values[-window:])
    prior = aggregate(op, values[-window - prior_size : -window])
    delta = current - prior
    if params.get("change") == "relative":
        if prior == 0:
            return None
        delta /= abs(prior)
    return current if _directed(params.get("direction"), delta, float(params["amount"])) else None


def _zscore(params: Any, values: list[float], window: int) -> float | None:
    history = values[:-1][-window:]
    if len(history) < 2:
        return None
    spread = statistics.pstdev(history)
    if spread == 0:
        return None
    latest = values[-1]
    z = (latest - statistics.fmean(history)) / spread
    return latest if _directed(params.get("direction"), z, float(params["threshold"])) else None


def _directed(direction: str | None, delta: float, amount: float) -> bool:
    if direction == "increase":
        return delta >= amount
    if direction == "decrease":
        return -delta >= amount
    return abs(delta) >= amount
