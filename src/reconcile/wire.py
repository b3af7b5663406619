"""Translate events and actions between the inventory's vocabulary and W&B's wire shapes.

`encode_*` builds what `createFilterTrigger` takes; `decode_*` reads what the server
returns (artifact-event filters come back wrapped as `{"filter": ...}`). A server
shape this vocabulary cannot express decodes to an `Event`/`Action` whose kind starts
with `unsupported:`, so the plan shows it as different instead of guessing.
"""

from __future__ import annotations

import json
from typing import Any

from reconcile.events import BY_WIRE, EVENTS
from reconcile.model import Action, Event

COMPARATORS = {"above": "$gt", "below": "$lt", "at_least": "$gte", "at_most": "$lte"}
_CMP_NAMES = {op: name for name, op in COMPARATORS.items()}
_RUN_NAME_OPS = {"matches": "$regex", "equals": "$eq", "contains": "$contains"}
_RUN_NAME_KEYS = {op: key for key, op in _RUN_NAME_OPS.items()}
# An artifact event's alias or tag test: the inventory form and W&B's operator.
FIELD_TESTS = {"matches": "$regex", "equals": "$eq", "contains": "$contains", "one_of": "$in"}
_TEST_FORMS = {op: form for form, op in FIELD_TESTS.items()}
# A bare string means this test (alias: a regex, tag: an exact tag), as it always has.
PLAIN_TEST = {"alias": "matches", "tag": "equals"}


class NotExpressible(ValueError):
    """A server filter the inventory has no words for; the message says what it is."""


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
        conditions = [
            {field: encode_test(field, params[field])}
            for field in spec.fields
            if params.get(field) is not None
        ]
        return spec.wire, {"$or": [{"$and": conditions}]}
    run_filter = _json(_encode_run_name(params.get("run_name")))
    if event.kind == "run_state":
        states = [state.upper() for state in params["states"]]
        return spec.wire, {"run_filter": run_filter, "run_state_filter": {"states": states}}
    metric = _encode_metric(event.kind, params)
    return spec.wire, {"run_filter": run_filter, "run_metric_filter": metric, "metric_filter": None}


def encode_test(field: str, value: str | dict[str, Any]) -> dict[str, Any]:
    """`{"$regex": ...}` and the like for an alias or tag test as the inventory has it."""
    if isinstance(value, str):
        return {FIELD_TESTS[PLAIN_TEST[field]]: value}
    ((form, operand),) = value.items()
    return {FIELD_TESTS[form]: list(operand) if form == "one_of" else operand}


def decode_test(field: str, test: Any) -> str | dict[str, Any]:
    """The inventory form of one alias or tag test; NotExpressible for other operators."""
    if not isinstance(test, dict) or len(test) != 1:
        raise NotExpressible(f"the {field} test {_show(test)} is not a single operator")
    ((op, operand),) = test.items()
    form = _TEST_FORMS.get(op)
    if form is None:
        raise NotExpressible(
            f"the {field} operator {op} has no inventory form "
            f"(alias and tag take equals, matches, contains or one_of)"
        )
    if form == "one_of":
        if not isinstance(operand, list) or not operand:
            raise NotExpressible(f"{field} $in needs a non-empty list, not {_show(operand)}")
        if not all(isinstance(item, str) and item for item in operand):
            raise NotExpressible(f"{field} $in lists something other than names")
    elif not isinstance(operand, str) or not operand:
        raise NotExpressible(f"{field} {op} compares with {_show(operand)}, not with a name")
    if form == PLAIN_TEST[field]:
        return str(operand)
    return {form: operand}


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _encode_run_name(run_name: dict[str, str] | None) -> dict[str, Any]:
    if not run_name:
        return {"$and": []}
    ((key, value),) = run_name.items()
    return {"$and": [{"display_name": {_RUN_NAME_OPS[key]: value}}]}


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


def _decode_artifact(kind: str, data: dict[str, Any]) -> Event:
    if set(data) == {"filter"}:  # the read-back wrapper
        data = data["filter"]
    if isinstance(data, str):
        data = json.loads(data)
    fields = EVENTS[kind].fields
    params: dict[str, Any] = dict.fromkeys(fields)
    for condition in _conditions(data):
        if not isinstance(condition, dict) or len(condition) != 1:
            raise NotExpressible(f"the condition {_show(condition)} is not one field's test")
        ((field, test),) = condition.items()
        if field.startswith("$"):
            raise NotExpressible(f"the combination {field}")
        if field not in fields:
            raise NotExpressible(f"{kind} events are not filtered on {field!r} in the inventory")
        if params[field] is not None:
            raise NotExpressible(f"more than one test of {field}")
        params[field] = decode_test(field, test)
    return Event(kind, params)


def _conditions(data: dict[str, Any]) -> list[dict[str, Any]]:
    if not data:
        return []
    if set(data) == {"$or"}:
        if len(data["$or"]) != 1:
            raise NotExpressible(f"{len(data['$or'])} alternatives ($or)")
        data = data["$or"][0]
    if set(data) == {"$and"}:
        return list(data["$and"])
    if any(key.startswith("$") for key in data):
        raise NotExpressible(f"the combination {', '.join(sorted(data))}")
    return [data]


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


def _decode_run_name(run_filter: dict[str, Any]) -> dict[str, str] | None:
    conditions = _conditions(run_filter)
    if not conditions:
        return None
    if len(conditions) != 1:
        raise ValueError("several run conditions")
    ((field, test),) = conditions[0].items()
    ((op, value),) = test.items()
    if field != "display_name" or op not in _RUN_NAME_KEYS:
        raise ValueError(field)
    return {_RUN_NAME_KEYS[op]: value}


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
