"""Translate events and actions between the inventory's vocabulary and W&B's wire shapes.

`encode_*` builds what `createFilterTrigger` takes; `decode_*` reads what the server
returns (artifact-event filters come back wrapped as `{"filter": ...}`); the alias,
tag and run-name conditions inside are `filters.py`'s. A server shape this vocabulary
cannot express decodes to an `Event`/`Action` whose kind starts with `unsupported:`,
so the plan shows it as different instead of guessing.
"""

from __future__ import annotations

import json
from typing import Any

from reconcile.core import filters
from reconcile.core.events import BY_WIRE, EVENTS
from reconcile.core.filters import NotExpressible
from reconcile.core.model import Action, Event

COMPARATORS = {"above": "$gt", "below": "$lt", "at_least": "$gte", "at_most": "$lte"}
_CMP_NAMES = {op: name for name, op in COMPARATORS.items()}


def _json(value: Any) -> str:
    """Compact JSON in UTF-8, as the SDK writes it (W&B's UI shows the text as sent)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# --- events ---------------------------------------------------------------------------


def encode_event(event: Event) -> tuple[str, dict[str, Any]]:
    """The wire event type and the filter object (before JSON encoding) for `event`."""
    spec = EVENTS[event.kind]
    params = event.params
    if spec.artifact:
        conditions = [c for field in spec.fields for c in filters.encode(field, params.get(field))]
        return spec.wire, {"$or": [{"$and": conditions}]}
    run_filter = _json({"$and": filters.encode("run_name", params.get("run_name"))})
    if event.kind == "run_state":
        states = [state.upper() for state in params["states"]]
        return spec.wire, {"run_filter": run_filter, "run_state_filter": {"states": states}}
    metric = _encode_metric(event.kind, params)
    return spec.wire, {"run_filter": run_filter, "run_metric_filter": metric, "metric_filter": None}


def _encode_metric(kind: str, p: dict[str, Any] | Any) -> dict[str, Any]:
    if kind == "run_metric":
        ((name, op),) = [(n, op) for n, op in COMPARATORS.items() if n in p]
        threshold = {
            "name": p["metric"],
            "agg_op": _upper(p["aggregate"]),
            "window_size": p["window"],
            "cmp_op": op,
            "threshold": p[name],
        }
        return {"threshold_filter": threshold}
    if kind == "run_metric_change":
        change = {
            "name": p["metric"],
            "agg_op": _upper(p["aggregate"]),
            "current_window_size": p["window"],
            "prior_window_size": p["prior_window"],
            "change_type": p["change"].upper(),
            "change_dir": p["direction"].upper(),
            "change_amount": p["amount"],
        }
        return {"change_filter": change}
    zscore = {
        "name": p["metric"],
        "window_size": p["window"],
        "threshold": p["threshold"],
        "change_dir": p["direction"].upper(),
    }
    return {"zscore_filter": zscore}


def decode_event(wire_type: str, raw_filter: str | dict[str, Any] | None) -> Event:
    """The inventory form of a server trigger's event; `unsupported:` when it has none."""
    spec = BY_WIRE.get(wire_type)
    data = json.loads(raw_filter) if isinstance(raw_filter, str) else (raw_filter or {})
    if spec is None:
        return unsupported(wire_type, data, f"the event {wire_type}")
    try:
        if spec.artifact:
            return _decode_artifact(spec.kind, data)
        return _decode_run(spec.kind, data)
    except NotExpressible as error:
        return unsupported(wire_type, data, str(error))
    except (KeyError, TypeError, ValueError, AttributeError):
        return unsupported(wire_type, data, f"a {wire_type} filter of a shape the inventory lacks")


def unsupported(wire_type: str, data: Any, reason: str) -> Event:
    """The stand-in for a server event the inventory cannot express, and why."""
    return Event(f"unsupported:{wire_type}", {"filter": data, "reason": reason})


def _decode_artifact(kind: str, data: Any) -> Event:
    if isinstance(data, dict) and set(data) == {"filter"}:  # the read-back wrapper
        data = data["filter"]
    if isinstance(data, str):
        data = json.loads(data)
    conditions = _conditions(data)
    fields = EVENTS[kind].fields
    params: dict[str, Any] = dict.fromkeys(fields)
    if conditions and not fields:
        raise NotExpressible(f"a filter on {kind} events: the inventory tests no field of them")
    if fields:
        params[fields[0]] = filters.decode(fields[0], conditions)
    return Event(kind, params)


def _conditions(data: Any) -> list[Any]:
    """The conjuncts of the `{"$or":[{"$and":[...]}]}` (artifact) or `{"$and":[...]}`
    (run) wrapper; a filter of another shape is one condition."""
    if not data:
        return []
    alternatives = data.get("$or") if isinstance(data, dict) and len(data) == 1 else None
    if isinstance(alternatives, list) and len(alternatives) == 1 and _is_and(alternatives[0]):
        data = alternatives[0]
    if _is_and(data):
        return list(data["$and"])
    return [data]


def _is_and(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"$and"} and isinstance(data["$and"], list)


def _decode_run(kind: str, data: dict[str, Any]) -> Event:
    run_filter = data.get("run_filter") or {"$and": []}
    if isinstance(run_filter, str):
        run_filter = json.loads(run_filter)
    params: dict[str, Any]
    if kind == "run_state":
        states = [s.lower() for s in data["run_state_filter"]["states"]]
        params = {"states": [s for s in ("running", "finished", "failed") if s in states]}
    elif kind == "run_metric":
        t = data["run_metric_filter"]["threshold_filter"]
        params = {
            "metric": t["name"],
            _CMP_NAMES[t["cmp_op"]]: t["threshold"],
            "aggregate": _lower(t.get("agg_op")),
            "window": t.get("window_size", 1),
        }
    elif kind == "run_metric_change":
        c = data["run_metric_filter"]["change_filter"]
        window = c.get("current_window_size", 1)
        params = {
            "metric": c["name"],
            "direction": c["change_dir"].lower(),
            "amount": c["change_amount"],
            "change": c["change_type"].lower(),
            "aggregate": _lower(c.get("agg_op")),
            "window": window,
            "prior_window": c.get("prior_window_size", window),
        }
    else:
        z = data["run_metric_filter"]["zscore_filter"]
        params = {
            "metric": z["name"],
            "threshold": z.get("threshold", 3.0),
            "window": z.get("window_size", 30),
            "direction": z.get("change_dir", "ANY").lower(),
        }
    params["run_name"] = _decode_run_name(run_filter)
    return Event(kind, params)


def _decode_run_name(run_filter: Any) -> Any:
    return filters.decode("run_name", _conditions(run_filter))


# --- actions --------------------------------------------------------------------------


def encode_action(action: Action, integration_id: str | None) -> tuple[str, dict[str, Any]]:
    """The wire action type and `triggeredActionConfig` for `action`."""
    params = action.params
    if action.kind == "webhook":
        config: dict[str, Any] = {"integrationID": integration_id}
        if params.get("payload") is not None:
            config["requestPayload"] = _json(params["payload"])
        return "GENERIC_WEBHOOK", {"genericWebhookActionInput": config}
    if action.kind == "slack":
        config = {
            "integrationID": integration_id,
            "title": params["title"],
            "message": params["message"],
            "severity": params["severity"].upper(),
        }
        return "NOTIFICATION", {"notificationActionInput": config}
    return "NO_OP", {"noOpActionInput": {"noOp": True}}


def decode_action(raw: dict[str, Any]) -> Action:
    """The inventory form of a trigger's `action` selection (`__typename` tells which)."""
    typename = raw.get("__typename", "")
    if typename == "GenericWebhookTriggeredAction":
        payload = raw.get("requestPayload")
        decoded = json.loads(payload) if isinstance(payload, str) and payload else None
        name = (raw.get("integration") or {}).get("name")
        return Action("webhook", {"to": name, "payload": decoded})
    if typename == "NotificationTriggeredAction":
        integration = raw.get("integration") or {}
        return Action(
            "slack",
            {
                "channel": integration.get("channelName"),
                "title": raw.get("title") or "",
                "message": raw.get("message") or "",
                "severity": _lower(raw.get("severity")) or "info",
            },
        )
    if typename == "NoOpTriggeredAction":
        return Action("no_op", {})
    return Action(f"unsupported:{typename}", {})
