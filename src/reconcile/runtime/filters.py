"""W&B's filter language (`wandb-api.md` §3) compiled once into predicates over event documents.

`compile_filter` turns a Mongo-style filter into a function of an event document;
`compile_event_filter` reads a whole stored `eventFilter` (artifact filter, or run
filter with its state or metric condition) and `document` builds what a filter tests.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]

from reconcile.runtime.incoming import IncomingEvent

Document = Mapping[str, Any]
Predicate = Callable[[Document], bool]

# The fields a filter may test, by the kind of event (the event document's keys).
ARTIFACT_FIELDS = ("alias", "tag")
RUN_FIELDS = ("display_name",)
RUN_STATES = ("RUNNING", "FINISHED", "FAILED")
# The longest window a metric filter may aggregate over: a run keeps at most this many
# values per metric automation (twice for a change filter's current and prior windows).
WINDOW_MAX = 1000
# How deeply filters may nest (objects and lists), as the server's other JSON inputs.
DEPTH_MAX = 32
# Compiled filters kept, by their text; more distinct filters than this are compiled again.
CACHE_MAX = 20_000
_FIELD_OPS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}
    | {"$regex", "$contains", "$not"}
)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class FilterError(ValueError):
    """A filter this evaluator cannot run; `path` says where (`eventFilter.$or[0]...`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


def document(event: IncomingEvent) -> dict[str, Any]:
    """The event document a filter tests: only the fields the event carries (text)."""
    doc: dict[str, Any] = {}
    if event.run is not None:
        doc["display_name"] = event.run.name
        return doc
    if event.alias is not None:
        doc["alias"] = event.alias
    if event.tag is not None:
        doc["tag"] = event.tag
    return doc


def state_of(event: IncomingEvent) -> str:
    """W&B's name of a run event's state (a crashed run counts as FAILED)."""
    state = (event.state or "").upper()
    return "FAILED" if state == "CRASHED" else state


# --- the filter language -----------------------------------------------------------------


def _true(_doc: Document) -> bool:
    return True


def _false(_doc: Document) -> bool:
    return False


def _all(tests: list[Predicate]) -> Predicate:
    if not tests:
        return _true
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda doc: first(doc) and second(doc)
    checks = tuple(tests)

    def every(doc: Document) -> bool:
        for test in checks:  # noqa: SIM110 - a plain loop is twice as fast as all(generator)
            if not test(doc):
                return False
        return True

    return every


def _any(tests: list[Predicate]) -> Predicate:
    if not tests:
        return _false
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda doc: first(doc) or second(doc)
    checks = tuple(tests)

    def some(doc: Document) -> bool:
        for test in checks:  # noqa: SIM110 - as in _all
            if test(doc):
                return True
        return False

    return some


def _negate(test: Predicate) -> Predicate:
    return lambda doc: not test(doc)


def compile_filter(
    value: Any, fields: tuple[str, ...], path: str = "filter", depth: int = 0
) -> Predicate:
    """The predicate of a filter document over `fields`; FilterError names what is wrong."""
    if depth > DEPTH_MAX:
        raise FilterError(path, f"nests deeper than {DEPTH_MAX} levels")
    if not isinstance(value, dict):
        raise FilterError(path, f"a filter must be an object, not {_show(value)}")
    tests: list[Predicate] = []
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or", "$nor"):
            if not isinstance(item, list):
                raise FilterError(where, f"{key} takes a list of filters")
            parts = [
                compile_filter(x, fields, f"{where}[{i}]", depth + 1) for i, x in enumerate(item)
            ]
            combined = _all(parts) if key == "$and" else _any(parts)
            tests.append(_negate(combined) if key == "$nor" else combined)
        elif key == "$not":
            tests.append(_negate(compile_filter(item, fields, where, depth + 1)))
        elif key.startswith("$"):
            raise FilterError(where, f"unknown operator {key} (known: {_known()})")
        elif key not in fields:
            raise FilterError(where, f"unknown field {key!r} (this event has {', '.join(fields)})")
        else:
            tests.append(_field(key, item, where, depth + 1))
    return _all(tests)


def _known() -> str:
    return ", ".join(sorted(_FIELD_OPS | {"$and", "$or", "$nor"}))


def _field(name: str, test: Any, path: str, depth: int) -> Predicate:
    """One field's test: an object of operators, or a bare value meaning `$eq`."""
    if not isinstance(test, dict):
        return _operator(name, "$eq", test, f"{path}.$eq")
    if not test:
        raise FilterError(path, "an empty test: give an operator such as $eq or $regex")
    if depth > DEPTH_MAX:
        raise FilterError(path, f"nests deeper than {DEPTH_MAX} levels")
    return _all(
        [_operator(name, op, operand, f"{path}.{op}", depth) for op, operand in test.items()]
    )


def _operator(name: str, op: str, operand: Any, path: str, depth: int = 0) -> Predicate:
    if op not in _FIELD_OPS:
        raise FilterError(path, f"unknown operator {op} (known: {_known()})")
    if op == "$not":
        if not isinstance(operand, dict) or not operand:
            raise FilterError(path, "$not takes an object of operators, like {'$eq': 'prod'}")
        return _negate(_field(name, operand, path, depth + 1))
    if op in ("$eq", "$ne"):
        test = _equals(name, _scalar_or_list(operand, path))
        return _negate(test) if op == "$ne" else test
    if op in ("$in", "$nin"):
        test = _member(name, operand, path)
        return _negate(test) if op == "$nin" else test
    if op == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(path, f"$exists takes true or false, not {_show(operand)}")
        return (lambda doc: name in doc) if operand else (lambda doc: name not in doc)
    if op == "$regex":
        return _regex(name, operand, path)
    if op == "$contains":
        if not isinstance(operand, str):
            raise FilterError(path, f"$contains takes text, not {_show(operand)}")
        return lambda doc: type(value := doc.get(name)) is str and operand in value
    return _ordered(name, op, operand, path)


def _scalar(value: Any, path: str) -> Any:
    """Text, a finite number, true/false or null; anything else is refused."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        return _number(value, path)
    raise FilterError(path, f"compares with {_show(value)}; give text, a number or true/false")


def _scalar_or_list(value: Any, path: str) -> Any:
    if isinstance(value, list):
        return [_scalar(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return _scalar(value, path)


def _number(value: Any, path: str) -> float | int:
    """A JSON number a 64-bit float holds (no NaN, infinity, or 400-digit integers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilterError(path, f"must be a number, not {_show(value)}")
    try:
        as_float = float(value)
    except OverflowError:
        raise FilterError(path, f"{_show(value)} is too large for a number") from None
    if not math.isfinite(as_float):
        raise FilterError(path, f"{_show(value)} is not a finite number")
    return value


def _kind(value: Any) -> type:
    """Values of one kind compare with each other only (ints and floats are one kind)."""
    return float if type(value) is int else type(value)


def _equals(name: str, operand: Any) -> Predicate:
    if operand is None:  # null matches a field the event does not carry
        return lambda doc: doc.get(name) is None
    if isinstance(operand, str):
        return lambda doc: doc.get(name) == operand
    kind = _kind(operand)
    return lambda doc: _kind(value := doc.get(name)) is kind and value == operand


def _member(name: str, operand: Any, path: str) -> Predicate:
    if not isinstance(operand, list):
        raise FilterError(path, f"takes a list of values, not {_show(operand)}")
    values = [_scalar(item, f"{path}[{i}]") for i, item in enumerate(operand)]
    by_kind: dict[type, set[Any]] = {}
    for value in values:
        if value is not None:
            by_kind.setdefault(_kind(value), set()).add(value)
    texts = frozenset(by_kind.pop(str, ()))
    with_null = None in values
    if not by_kind:  # the common case: a list of names
        if with_null:
            return lambda doc: (value := doc.get(name)) is None or value in texts
        return lambda doc: doc.get(name) in texts
    kinds = {kind: frozenset(items) for kind, items in by_kind.items()}
    kinds[str] = texts

    def member(doc: Document) -> bool:
        value = doc.get(name)
        if value is None:
            return with_null
        return value in kinds.get(_kind(value), ())

    return member


def _regex(name: str, pattern: Any, path: str) -> Predicate:
    if not isinstance(pattern, str):
        raise FilterError(path, f"$regex takes a pattern (text), not {_show(pattern)}")
    try:
        compiled = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else str(error)
        raise FilterError(path, f"invalid RE2 regex {pattern!r}: {reason}") from None
    search = compiled.search
    return lambda doc: type(value := doc.get(name)) is str and search(value) is not None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _ordered(name: str, op: str, operand: Any, path: str) -> Predicate:
    value = _scalar(operand, path)
    if value is None:
        raise FilterError(path, f"{op} compares with null; give text or a number")
    kind, compare = _kind(value), _ORDER[op]
    return lambda doc: _kind(got := doc.get(name)) is kind and compare(got, value)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# --- a stored eventFilter ----------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A run-metric condition: `kind` is `threshold`, `change` or `zscore`.

    `amount` is the threshold, the change amount or the z-score; `aggregate` is
    `max`, `min`, `average` or None (the latest value); `cmp` a threshold's operator.
    """

    kind: str
    name: str
    window: int
    amount: float
    aggregate: str | None = None
    prior_window: int = 0
    cmp: str | None = None
    change: str | None = None
    direction: str = "any"

    @property
    def needed(self) -> int:
        """How many recent values of the metric the condition reads."""
        if self.kind == "change":
            return self.window + self.prior_window
        if self.kind == "zscore":
            return self.window + 1
        return self.window


@dataclass(frozen=True)
class Compiled:
    """A stored eventFilter, ready: `test` (artifact or run filter), and for run events
    the states that fire, or the metric condition."""

    test: Predicate
    states: frozenset[str] | None = None
    metric: Metric | None = None


ARTIFACT_WIRE = frozenset(
    {
        "ADD_ARTIFACT_ALIAS",
        "CREATE_ARTIFACT",
        "LINK_MODEL",
        "ADD_ARTIFACT_TAG",
        "REMOVE_ARTIFACT_TAG",
        "ADD_COLLECTION_TAG",
        "REMOVE_COLLECTION_TAG",
        "UNLINK_ARTIFACT",
        "UPDATE_ARTIFACT_ALIAS",
    }
)
_METRIC_PART = {
    "RUN_METRIC": "threshold_filter",
    "RUN_METRIC_CHANGE": "change_filter",
    "RUN_METRIC_ZSCORE": "zscore_filter",
}
_RUN_KEYS = {
    "RUN_STATE": frozenset({"run_filter", "run_state_filter"}),
    **{
        wire: frozenset({"run_filter", "run_metric_filter", "metric_filter"})
        for wire in _METRIC_PART
    },
}
_CACHE: dict[tuple[str, str], Compiled | FilterError] = {}
_CACHE_LOCK = threading.Lock()


def compiled(event_type: str, text: str) -> Compiled:
    """`compile_event_filter` of a stored filter's text, compiled once per distinct text."""
    key = (event_type, text)
    found = _CACHE.get(key)
    if found is None:
        try:
            found = compile_event_filter(event_type, json.loads(text))
        except (ValueError, RecursionError) as error:
            # Kept too: a stored filter that cannot run fails again at once, not compiled again.
            found = (
                error if isinstance(error, FilterError) else FilterError("eventFilter", str(error))
            )
        with _CACHE_LOCK:
            if len(_CACHE) >= CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = found
    if isinstance(found, FilterError):
        # Without the traceback of its last raise: a kept exception must not grow one.
        raise found.with_traceback(None)
    return found


def compile_event_filter(event_type: str, value: Any, path: str = "eventFilter") -> Compiled:
    """A decoded `eventFilter` of the wire event type, compiled; FilterError otherwise.

    Artifact events: the filter itself (W&B wraps it `{"$or":[{"$and":[...]}]}`; the
    read-back form `{"filter": ...}` is accepted). Run events: `run_filter` (a JSON
    string, or an object) on `display_name`, with `run_state_filter` or `run_metric_filter`.
    """
    if event_type in ARTIFACT_WIRE:
        if isinstance(value, dict) and set(value) == {"filter"}:
            inner = value["filter"]
            value = json.loads(inner) if isinstance(inner, str) else inner
            path = f"{path}.filter"
        return Compiled(compile_filter(value, ARTIFACT_FIELDS, path))
    if event_type not in _RUN_KEYS:
        raise FilterError(path, f"unknown event type {event_type}")
    if not isinstance(value, dict):
        raise FilterError(path, f"must be an object, not {_show(value)}")
    for key in value:
        if key not in _RUN_KEYS[event_type]:
            known = ", ".join(sorted(_RUN_KEYS[event_type]))
            raise FilterError(f"{path}.{key}", f"unknown key for {event_type} (known: {known})")
    test = _run_filter(value.get("run_filter"), f"{path}.run_filter")
    if event_type == "RUN_STATE":
        return Compiled(test, states=_states(value.get("run_state_filter"), path))
    if value.get("metric_filter") is not None:
        raise FilterError(f"{path}.metric_filter", "the legacy metric_filter must be null")
    return Compiled(test, metric=_metric(event_type, value.get("run_metric_filter"), path))


def _run_filter(raw: Any, path: str) -> Predicate:
    if raw is None:
        return _true
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise FilterError(path, f"not valid JSON: {error}") from None
        except RecursionError:
            raise FilterError(path, f"nests deeper than {DEPTH_MAX} levels") from None
    return compile_filter(raw, RUN_FIELDS, path)


def _states(raw: Any, path: str) -> frozenset[str]:
    where = f"{path}.run_state_filter.states"
    if not isinstance(raw, dict) or not set(raw) <= {"states"}:
        raise FilterError(f"{path}.run_state_filter", 'must be {"states": [...]}')
    states = raw.get("states")
    if not isinstance(states, list) or not states:
        raise FilterError(where, f"a non-empty list of {', '.join(RUN_STATES)}")
    found: set[str] = set()
    for index, state in enumerate(states):
        name = state.upper() if isinstance(state, str) else None
        name = "FAILED" if name == "CRASHED" else name
        if name not in RUN_STATES:
            raise FilterError(f"{where}[{index}]", f"{_show(state)} is not a run state")
        found.add(name)
    return frozenset(found)


_METRIC_KEYS = {
    "threshold_filter": ("name", "agg_op", "window_size", "cmp_op", "threshold"),
    "change_filter": (
        "name",
        "agg_op",
        "current_window_size",
        "prior_window_size",
        "change_type",
        "change_dir",
        "change_amount",
    ),
    "zscore_filter": ("name", "window_size", "threshold", "change_dir"),
}


def _metric(event_type: str, raw: Any, path: str) -> Metric:
    part = _METRIC_PART[event_type]
    path = f"{path}.run_metric_filter"
    if not isinstance(raw, dict) or set(raw) != {part} or not isinstance(raw[part], dict):
        raise FilterError(path, f"{event_type} needs {{{part!r}: {{...}}}} and nothing else")
    spec, path = raw[part], f"{path}.{part}"
    for key in spec:
        if key not in _METRIC_KEYS[part]:
            known = ", ".join(_METRIC_KEYS[part])
            raise FilterError(f"{path}.{key}", f"unknown key (known: {known})")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise FilterError(f"{path}.name", "needs the metric's name")
    return _METRIC_KINDS[part](name, spec, path)


_AGGREGATES = ("MAX", "MIN", "AVERAGE")
_DIRECTIONS = ("INCREASE", "DECREASE", "ANY")


def _threshold(name: str, spec: dict[str, Any], path: str) -> Metric:
    return Metric(
        "threshold",
        name,
        _window(spec, "window_size", path, 1),
        _number(spec.get("threshold"), f"{path}.threshold"),
        aggregate=_choice(spec, "agg_op", _AGGREGATES, path, None),
        cmp=_choice(spec, "cmp_op", ("$gt", "$gte", "$lt", "$lte"), path, ""),
    )


def _change(name: str, spec: dict[str, Any], path: str) -> Metric:
    window = _window(spec, "current_window_size", path, 1)
    return Metric(
        "change",
        name,
        window,
        _positive(spec.get("change_amount"), f"{path}.change_amount"),
        aggregate=_choice(spec, "agg_op", _AGGREGATES, path, None),
        prior_window=_window(spec, "prior_window_size", path, window),
        change=_choice(spec, "change_type", ("ABSOLUTE", "RELATIVE"), path, ""),
        direction=_choice(spec, "change_dir", _DIRECTIONS, path, ""),
    )


def _zscore(name: str, spec: dict[str, Any], path: str) -> Metric:
    return Metric(
        "zscore",
        name,
        _window(spec, "window_size", path, 30),
        _positive(spec.get("threshold", 3.0), f"{path}.threshold"),
        direction=_choice(spec, "change_dir", _DIRECTIONS, path, "ANY"),
    )


_METRIC_KINDS: dict[str, Callable[[str, dict[str, Any], str], Metric]] = {
    "threshold_filter": _threshold,
    "change_filter": _change,
    "zscore_filter": _zscore,
}


def _window(spec: dict[str, Any], key: str, path: str, default: int) -> int:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= WINDOW_MAX:
        raise FilterError(
            f"{path}.{key}", f"a whole number from 1 to {WINDOW_MAX}, not {_show(value)}"
        )
    return value


def _positive(value: Any, path: str) -> float:
    number = float(_number(value, path))
    if number <= 0:
        raise FilterError(path, f"must be above 0, not {_show(value)}")
    return number


def _choice(
    spec: dict[str, Any], key: str, allowed: tuple[str, ...], path: str, default: str | None
) -> Any:
    """One of `allowed` (any case), returned lower-cased ($-operators as they are);
    `default` when absent or null ("" makes it required)."""
    value = spec.get(key)
    if value is None and default != "":
        return default.lower() if default else None
    upper = value.upper() if isinstance(value, str) else None
    if upper not in {item.upper() for item in allowed}:
        raise FilterError(f"{path}.{key}", f"one of {', '.join(allowed)}, not {_show(value)}")
    return upper.lower() if upper else None
