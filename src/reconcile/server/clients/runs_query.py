"""W&B's run filters and orders (`api.runs(path, filters=..., order=...)`), evaluated
over a project's runs: MongoDB-style conditions on `state`, `display_name`, `name`,
`tags`, `created_at`, `config.KEY` and `summary_metrics.KEY`; `$regex` is RE2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]

from reconcile.server.api import validation
from reconcile.server.clients.runs import Run
from reconcile.server.errors import InvalidInput

MAX_FILTER_CHARS = 64 * 1024
MAX_RUNS = 100_000  # runs of a project a listing reads and filters
MAX_DEPTH = 32
MISSING: Any = object()  # a field the run does not have
_PLAIN: dict[str, Callable[[Run], Any]] = {
    "state": lambda run: run.state,
    "display_name": lambda run: run.display_name,
    "displayName": lambda run: run.display_name,
    "name": lambda run: run.name,
    "id": lambda run: run.name,
    "created_at": lambda run: run.created_at,
    "createdAt": lambda run: run.created_at,
    "tags": lambda run: list(run.tags),
    "username": lambda run: run.author.username if run.author else MISSING,
}


def parse(text: str | None) -> dict[str, Any]:
    """The `filters` argument: a JSON object (empty: every run)."""
    if not text:
        return {}
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidInput(f"filters is longer than {MAX_FILTER_CHARS} characters")
    found = validation.json_object("filters", text)
    if validation.json_depth(found, MAX_DEPTH) > MAX_DEPTH:
        raise InvalidInput(f"filters nests deeper than {MAX_DEPTH} levels")
    return found


def field(run: Run, key: str) -> Any:
    """The run's value under a filter's key (MISSING when it has none)."""
    plain = _PLAIN.get(key)
    if plain is not None:
        return plain(run)
    head, _, rest = key.partition(".")
    if not rest:
        raise InvalidInput(f"filters: unknown run field {key!r}")
    if head == "config":
        return _config(json.loads(run.config), rest.split("."))
    if head in ("summary_metrics", "summaryMetrics"):
        return _walk(json.loads(run.summary), rest.split("."))
    raise InvalidInput(f"filters: unknown run field {key!r}")


def _config(config: dict[str, Any], parts: list[str]) -> Any:
    """`config.lr` is the value the SDK stores as `{"lr": {"value": .., "desc": ..}}`."""
    top = config.get(parts[0], MISSING)
    wrapped = isinstance(top, dict) and "value" in top and set(top) <= {"value", "desc"}
    if wrapped and parts[1:2] != ["value"]:
        return _walk(top["value"], parts[1:])
    return _walk(top, parts[1:])


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def matches(run: Run, condition: Any) -> bool:
    """Whether the run passes a filter document."""
    if not isinstance(condition, dict):
        raise InvalidInput("filters: a condition must be an object")
    for key, wanted in condition.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(wanted, list):
                raise InvalidInput(f"filters: {key} takes a list of conditions")
            passed = [matches(run, one) for one in wanted]
            if not _COMBINE[key](passed):
                return False
        elif key.startswith("$"):
            raise InvalidInput(f"filters: unknown operator {key!r}")
        elif not _test(field(run, key), wanted):
            return False
    return True


_COMBINE: dict[str, Callable[[list[bool]], bool]] = {
    "$and": all,
    "$or": any,
    "$nor": lambda passed: not any(passed),
}


def _test(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict) and wanted and all(str(k).startswith("$") for k in wanted):
        return all(_operator(value, op, arg) for op, arg in wanted.items())
    return _equal(value, wanted)


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(_same(item, wanted) for item in value)  # a tag among the run's tags
    return value is not MISSING and _same(value, wanted)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _ordered(value: Any, arg: Any, compare: Callable[[Any, Any], bool]) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, arg))
    texts = isinstance(value, str) and isinstance(arg, str)
    return (numbers or texts) and compare(value, arg)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _operator(value: Any, op: str, arg: Any) -> bool:
    if op in _COMPARE:
        return _ordered(value, arg, _COMPARE[op])
    if op == "$eq":
        return _equal(value, arg)
    if op == "$ne":
        return not _equal(value, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise InvalidInput(f"filters: {op} takes a list")
        found = any(_equal(value, item) for item in arg)
        return found if op == "$in" else not found
    if op == "$exists":
        return (value is not MISSING) == bool(arg)
    if op == "$not":
        return not _test(value, arg)
    if op == "$regex":
        return isinstance(value, str) and _regex(arg).search(value) is not None
    raise InvalidInput(f"filters: unknown operator {op!r}")


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _regex(pattern: Any) -> Any:
    """An RE2 pattern, as W&B's filters take (linear time whatever the pattern)."""
    if not isinstance(pattern, str) or len(pattern) > 1024:
        raise InvalidInput("filters: $regex takes a pattern of at most 1024 characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        raise InvalidInput(f"filters: $regex {pattern!r} is not an RE2 pattern") from None


def ordered(found: list[Run], order: str | None) -> list[Run]:
    """`+key` ascending (the SDK's default `+created_at`), `-key` descending; runs
    without the key last, in creation order."""
    text = (order or "+created_at").strip()
    descending = text.startswith("-")
    key = text.lstrip("+-")
    if not key:
        raise InvalidInput(f"order {order!r} names no field")
    valued = [(field(run, key), run) for run in found]
    present = [(v, run) for v, run in valued if v is not MISSING and v is not None]
    absent = [run for v, run in valued if v is MISSING or v is None]
    # Equal values (runs made in the same second) keep creation order, reversed with it.
    present.sort(key=lambda pair: (_sort_key(pair[0]), pair[1].id), reverse=descending)
    return [run for _, run in present] + absent


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True, default=str))
